"""Writes eval/reader/corpus.yaml: every QA set in this folder, its kind (from its name's
first word) and its split. The split is by document and by a hash of its name alone (about
one document in eight goes to dev), so no figure chose it:
    python eval/reader/make_corpus.py"""

import hashlib
from pathlib import Path

KINDS = {
    "man": "manual", "changelog": "changelog", "readme": "readme", "faq": "faq",
    "ref": "technical-reference", "techref": "technical-reference", "legal": "legal",
    "policy": "policy", "news": "news", "bio": "biography", "minutes": "minutes",
    "report": "report", "howto": "how-to", "handbook": "handbook", "manual": "product-manual",
    "feature": "feature", "essay": "essay", "history": "history", "travel": "travel-guide",
}
here = Path(__file__).parent
lines = [
    "# The reader's QA corpus: documents and questions written for training the reader",
    "# (issue 24), split by document: make_corpus.py says how. Held-out stays eval/corpus.yaml's.",
    "sets:",
]
for path in sorted(here.glob("*.yaml")):
    if path.name == "corpus.yaml":
        continue
    slug = path.stem
    kind = KINDS.get(slug.split("-")[0], slug.split("-")[0])
    dev = int(hashlib.sha1(slug.encode()).hexdigest()[:8], 16) % 8 == 0
    lines.append(f"  - {{file: {path.name}, kind: {kind}, split: {'dev' if dev else 'train'}}}")
(here / "corpus.yaml").write_text("\n".join(lines) + "\n", encoding="utf-8")
print(sum("split: dev" in x for x in lines), "dev,", sum("split: train" in x for x in lines), "train")
