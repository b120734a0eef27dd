"""Words found through the index of character pairs (`projections.text_search`) on SQLite and PostgreSQL
are exactly those the plain substring scan finds: random Chinese, Latin, digits and punctuation, asked for
by pieces of the texts and by words no text holds."""

from __future__ import annotations

import random

import pytest
from sqlalchemy import Engine, text

from domain.application import Minqing
from projections import all_views, cases, queries, text_search
from projections import words as word_index
from projections.paging import MAX_PAGE
from projections.processor import Processor, create_tables, rebuild

WORKER = "wang.worker"
CELL = "qingshui.dongcun.g1"
ALPHABET = "道路灯水渠堵塞修理村民小组垃圾清运噪音扰民停车" + "RoadLamp" + "0123456789" + " ，。!-"


def scattered(rng: random.Random, length: int) -> str:
    return "".join(rng.choice(ALPHABET) for _ in range(length))


def scanned(texts: dict[str, tuple[str, str]], words: str) -> set[str]:
    lowered = words.lower()
    return {case for case, (title, description) in texts.items()
            if lowered in title.lower() or lowered in description.lower()}


def searched(engine: Engine, words: str) -> set[str]:
    with engine.connect() as conn:
        page = queries.search_cases(conn, text=words, limit=MAX_PAGE)
    assert not page.total_capped
    return {item["id"] for item in page.items}


@pytest.mark.parametrize("common", [0, word_index.COMMON], ids=["read-in-order", "gathered"])
def test_the_index_finds_what_the_scan_finds(stored_app: Minqing, views_engine: Engine, common: int,
                                            monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(word_index, "COMMON", common)  # every word common (tested as the list reads), or none
    rng, texts = random.Random(2026), {}
    for _ in range(150):
        title, description = scattered(rng, rng.randint(2, 12)), scattered(rng, rng.randint(0, 40))
        case = stored_app.raise_demand(actor=WORKER, channel="visit", title=title, description=description,
                                       cell_id=CELL).id
        texts[str(case)] = (title.strip(), description)
    Processor(stored_app, views_engine).catch_up()
    pieces = []
    for title, description in rng.sample(list(texts.values()), 60):
        whole = title + description
        start = rng.randrange(len(whole))
        pieces.append(whole[start:start + rng.randint(1, 6)])
    asked = pieces + [scattered(rng, rng.randint(2, 4)) for _ in range(60)] + ["road", "LAMP", "12", "，。"]
    for words in asked:
        if words.strip():
            assert searched(views_engine, words) == scanned(texts, words), words


@pytest.mark.parametrize("rebuilt", ["case_words", "cases"])
def test_words_are_found_after_a_rebuild_and_for_cases_raised_after_it(
        stored_app: Minqing, views_engine: Engine, rebuilt: str) -> None:
    first = stored_app.raise_demand(actor=WORKER, channel="visit", title="路灯不亮", cell_id=CELL).id
    stored_app.raise_demand(actor=WORKER, channel="visit", title="水渠堵塞", cell_id=CELL)
    Processor(stored_app, views_engine).catch_up()
    rebuild(stored_app, views_engine, all_views()[rebuilt])
    second = stored_app.raise_demand(actor=WORKER, channel="visit", title="又一盏路灯", cell_id=CELL).id
    Processor(stored_app, views_engine).catch_up()
    assert searched(views_engine, "路灯") == {str(first), str(second)}


def test_db_init_indexes_the_words_of_a_store_kept_from_before_the_index(
        stored_app: Minqing, views_engine: Engine) -> None:
    case = stored_app.raise_demand(actor=WORKER, channel="visit", title="路灯不亮", cell_id=CELL).id
    Processor(stored_app, views_engine).catch_up()
    sqlite = views_engine.dialect.name == "sqlite"
    if sqlite:  # as a store made before was: its words indexed through `case_words`, kept by triggers
        with views_engine.begin() as conn:
            conn.execute(text(f"DROP TABLE {cases.WORDS.name(cases.cases)}"))
            retired = text_search.RETIRED_FTS
            conn.execute(text(f"CREATE VIRTUAL TABLE {retired} USING fts5(pairs, content='view_case_words')"))
            conn.execute(text(f"CREATE TRIGGER view_case_words_ai AFTER INSERT ON view_case_words BEGIN "
                              f"INSERT INTO {retired}(rowid, pairs) VALUES (new.rowid, new.pairs); END"))
    assert create_tables(views_engine) == []  # no view emptied, nothing to build again from the log
    assert searched(views_engine, "路灯") == {str(case)}
    if sqlite:
        with views_engine.connect() as conn:
            made = set(conn.execute(text("SELECT name FROM sqlite_master")).scalars())
        assert cases.WORDS.name(cases.cases) in made
        assert not made & {text_search.RETIRED_FTS, "view_case_words_ai"}


def test_the_index_keeps_no_digits(stored_app: Minqing, views_engine: Engine) -> None:
    stored_app.raise_demand(actor=WORKER, channel="visit", title="请回电 13812345678", cell_id=CELL)
    Processor(stored_app, views_engine).catch_up()
    with views_engine.connect() as conn:
        kept = conn.execute(text_search.case_words.select()).mappings().one()
    assert kept["pairs"] == ["请回", "回电"]
    assert searched(views_engine, "5678") != set()   # found by the scan (the view keeps the last four)
    with views_engine.connect() as conn:
        if conn.dialect.name == "sqlite":  # the words go through FTS5, the digits never reach it
            conn.execute(text(f"CREATE VIRTUAL TABLE temp.terms USING fts5vocab(main, "
                              f"{cases.WORDS.name(cases.cases)}, row)"))
            assert set(conn.execute(text("SELECT term FROM temp.terms")).scalars()) == {"请回", "回电"}
