"""The one API the front ends use: open, ask, Conversation, rebuild, status."""

from __future__ import annotations

import shutil

import pytest

from bot.config import load_settings
from bot.core.errors import IndexStoreError, QuestionError
from bot.service import Conversation, QAService, add, rebuild, status
from tests.conftest import ARTICLE


@pytest.fixture
def service(engine) -> QAService:
    return QAService(engine)


def test_a_follow_up_leans_on_the_turn_before(service):
    conversation = service.conversation()
    conversation.ask("Who is Koichi Nakano?")
    answer = conversation.ask("Which university is he at?")
    assert "Sophia University" in answer.text
    assert len(conversation) == 2 and conversation.last is answer
    conversation.reset()
    assert conversation.turns == [] and conversation.last is None


def test_an_edited_question_replaces_its_turn_and_sees_only_those_before(service):
    conversation = Conversation(service, keep=5)
    conversation.ask("Who is Koichi Nakano?", key=1)
    conversation.ask("Who is Lu Kang?", key=2)
    conversation.ask("Who is China's ambassador to Japan?", key=3)
    assert [t.question for t in conversation.history(before=2)] == ["Who is Koichi Nakano?"]
    conversation.ask("Who is Richard McGregor?", key=2)
    assert [t.question for t in conversation.turns] == [
        "Who is Koichi Nakano?",
        "Who is Richard McGregor?",
        "Who is China's ambassador to Japan?",
    ]


def test_a_conversation_keeps_only_its_last_turns(service):
    conversation = Conversation(service, keep=2)
    for question in ("Who is Lu Kang?", "Who is Koichi Nakano?", "Who is Richard McGregor?"):
        conversation.ask(question)
    assert [t.question for t in conversation.turns] == [
        "Who is Koichi Nakano?",
        "Who is Richard McGregor?",
    ]
    assert Conversation(service, keep=0).ask("Who is Lu Kang?").text  # answers, keeps none


def test_answering_with_changes_settings_only_inside_the_block(service):
    before = service.answer_settings
    with service.answering_with(abstain_threshold=0.99) as strict:
        assert strict.ask("Who is China's ambassador to Japan?").abstained
    assert service.answer_settings == before
    assert not service.ask("Who is China's ambassador to Japan?").abstained
    with pytest.raises(QuestionError):
        service.ask("   ")


def test_rebuild_and_status_through_the_settings(tmp_path, article_index_dir):
    target = tmp_path / "index"
    with pytest.raises(IndexStoreError, match="no index"):
        status(load_settings(index_dir=target))
    shutil.copytree(article_index_dir, target)
    settings = load_settings(index_dir=target)
    report = status(settings)
    assert report.up_to_date and report.manifest.chunk_count == 32 and report.size_bytes > 0
    assert (
        "the chunking settings changed"
        in status(load_settings(index_dir=target, max_chunk_tokens=128)).reasons
    )

    doc = tmp_path / "lighthouse.txt"
    doc.write_text("The lighthouse keeper lit the lamp at dusk every evening.\n")
    manifest = rebuild(settings, [doc])
    assert [s.doc_id for s in manifest.sources] == ["lighthouse"]
    assert rebuild(settings).sources[0].path == str(doc.resolve())  # the index's own sources
    opened = QAService.open(settings)
    assert "lighthouse keeper" in opened.ask("Who lit the lamp?").text
    assert status(settings).up_to_date and ARTICLE.name not in opened.passages


@pytest.mark.parametrize("keep_demo", [False, True])
def test_the_first_documents_added_replace_the_demo_article(tmp_path, article_index_dir, keep_demo):
    target = tmp_path / "index"
    shutil.copytree(article_index_dir, target)
    settings = load_settings(index_dir=target)
    assert QAService.open(settings).demo_only
    lighthouse, ferry = tmp_path / "lighthouse.txt", tmp_path / "ferry.txt"
    lighthouse.write_text("The lighthouse keeper lit the lamp at dusk every evening.\n")
    ferry.write_text("The ferry leaves the harbour at noon on weekdays.\n")

    said: list[str] = []
    manifest = add(settings, [lighthouse], notify=said.append, keep_demo=keep_demo)
    names = [s.name for s in manifest.sources]
    assert names == (["article.txt", "lighthouse.txt"] if keep_demo else ["lighthouse.txt"])
    assert any("demo article is replaced" in m for m in said) is not keep_demo
    assert not QAService.open(settings).demo_only

    said.clear()  # only the demo is replaced, and only once: the user's documents stay
    manifest = add(settings, [ferry], notify=said.append)
    assert [s.name for s in manifest.sources] == [*names, "ferry.txt"]
    assert not any("demo" in m for m in said)


def test_a_conversation_is_plain_state_around_the_live_service(service):
    """A front end may keep a conversation's state (pickled, say) and rebuild it later."""
    import pickle

    from bot.service import ConversationState

    first = service.conversation(keep=3)
    first.ask("Who is Koichi Nakano?")
    state = pickle.loads(pickle.dumps(first.state))
    assert isinstance(state, ConversationState)
    again = service.conversation(keep=3, state=state)
    assert "Sophia University" in again.ask("Which university is he at?").text
    assert len(state.turns) == 2  # the conversation writes into the state it was given


def test_reload_takes_up_a_new_build_with_the_same_model(tmp_path, article_index_dir, embedder):
    from bot.core.answering.engine import QAEngine
    from bot.core.index.build import build_index
    from bot.core.index.snapshot import load_index, read_manifest
    from bot.core.settings import AnswerSettings, ChunkerSettings

    index_dir = tmp_path / "index"
    shutil.copytree(article_index_dir, index_dir)
    engine = QAEngine(load_index(index_dir, read_manifest(index_dir)), embedder, AnswerSettings())
    live = QAService(engine)
    assert live.reload_if_changed() is False  # the build it has
    garden = tmp_path / "garden.md"
    garden.write_text(
        "# Garden\n\nWater the tomatoes every morning before the sun is high, and never water "
        "the leaves.\n"
    )
    build = build_index([garden], index_dir, embedder, ChunkerSettings())
    assert live.engine is engine  # nothing changes until it looks
    assert live.reload_if_changed(force=True) is True
    assert live.manifest.build_id == build.build_id and live.engine.embedder is embedder
    assert "every morning" in live.ask("When should the tomatoes be watered?").text
    assert engine.answer("Who is Koichi Nakano?").citations  # the old engine still answers
    assert live.reload_if_changed(force=True) is False
