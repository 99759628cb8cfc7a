"""The one API the front ends use: open, ask, Conversation, rebuild, status."""

from __future__ import annotations

import shutil

import pytest

from bot.config import load_settings
from bot.core.errors import IndexStoreError, QuestionError
from bot.service import Conversation, QAService, rebuild, status
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
