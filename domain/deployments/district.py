"""The `district` sample: a district (区) of eight townships and four street offices, about 1,100 grid cells,
with the village township's policy and categories. Built here rather than written out as TOML: its grid
is a pattern (villages of villager groups, communities of patches and buildings) that a file would repeat
a thousand times. Made for measuring at a district's size (`minqing demo --scale`, bench/scale.py).
"""

from __future__ import annotations

import random
import tomllib
from importlib import resources
from typing import Any

TOWNSHIPS = (("qingshi", "青石镇", "Qingshi"), ("liulin", "柳林镇", "Liulin"),
             ("taoyuan", "桃源镇", "Taoyuan"), ("baisha", "白沙镇", "Baisha"), ("hongqi", "红旗镇", "Hongqi"),
             ("fenghuang", "凤凰镇", "Fenghuang"), ("longquan", "龙泉镇", "Longquan"),
             ("shuangmiao", "双庙镇", "Shuangmiao"))
STREETS = (("chengguan", "城关街道", "Chengguan"), ("dongcheng", "东城街道", "Dongcheng"),
           ("xicheng", "西城街道", "Xicheng"), ("nanhu", "南湖街道", "Nanhu"))
VILLAGES_PER_TOWNSHIP, GROUPS_PER_VILLAGE = 18, 4
COMMUNITIES_PER_STREET, PATCHES, BUILDINGS = 8, 2, 3
# Village names: a direction or a size and a surname, then a kind of place (东王庄, 大李湾, ...).
FIRST = "东西南北前后上下大小新老"
SURNAME = "王李张刘陈杨赵黄周吴徐孙胡朱高林何郭马罗"
PLACE = "庄村湾岗营寨集店"
GROUPS = "一二三四五六七八九十"
COMMUNITY_NAMES = ("幸福", "和平", "光明", "建设", "文化", "滨河", "花园", "阳光", "锦绣", "育才")


def raw() -> dict[str, Any]:
    """The deployment as `domain.deployment.parse` takes it (the shape of a TOML sample)."""
    policy = tomllib.loads(resources.files("domain.deployments").joinpath("village_township.toml")
                           .read_text("utf-8"))
    cells: list[dict[str, Any]] = [_cell("district", "清河区", "Qinghe District", "district", None)]
    every_name = [f + s + p for p in PLACE for f in FIRST for s in SURNAME]
    names = iter(random.Random(7).sample(every_name, len(TOWNSHIPS) * VILLAGES_PER_TOWNSHIP))
    for key, zh, en in TOWNSHIPS:
        township = f"district.{key}"
        cells.append(_cell(township, zh, f"{en} Township", "township", "district"))
        for v in range(1, VILLAGES_PER_TOWNSHIP + 1):
            village, name = f"{township}.v{v}", next(names)
            cells.append(_cell(village, name, f"{en} village {v}", "village", township))
            for g in range(1, GROUPS_PER_VILLAGE + 1):
                cells.append(_cell(f"{village}.g{g}", f"{name}{GROUPS[g - 1]}组",
                                   f"{en} village {v} group {g}", "villager_group", village))
    for key, zh, en in STREETS:
        street = f"district.{key}"
        cells.append(_cell(street, zh, f"{en} Street", "street", "district"))
        for c in range(1, COMMUNITIES_PER_STREET + 1):
            community = f"{street}.c{c}"
            name = f"{zh[:2]}{COMMUNITY_NAMES[c - 1]}社区"
            cells.append(_cell(community, name, f"{en} community {c}", "community", street))
            for p in range(1, PATCHES + 1):
                patch = f"{community}.p{p}"
                cells.append(_cell(patch, f"{name}第{GROUPS[p - 1]}网格", f"{en} community {c} patch {p}",
                                   "patch_1", community))
                for b in range(1, BUILDINGS + 1):
                    number = (p - 1) * BUILDINGS + b
                    cells.append(_cell(f"{patch}.b{number}", f"{name}{number}号楼",
                                       f"{en} community {c} building {number}", "building", patch))
    return {**policy, "title": {"zh": "清河区", "en": "Qinghe District"}, "cells": cells}


def _cell(cell_id: str, zh: str, en: str, level: str, parent: str | None) -> dict[str, Any]:
    cell = {"id": cell_id, "title": {"zh": zh, "en": en}, "level": level}
    return cell if parent is None else {**cell, "parent": parent}
