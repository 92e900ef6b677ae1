"""`--shard i/N` means one thing for every command: block i (0-based) of N contiguous blocks."""

from __future__ import annotations

import pytest

from medlc_core.config import ConfigError
from medlc_core.shard import parse_shard, select_shard


def test_shard_text_reads_as_zero_based_index_and_count():
    assert parse_shard("0/1") == (0, 1) and parse_shard("3/4") == (3, 4)


@pytest.mark.parametrize("text", ["1", "2/2", "-1/3", "a/b", "0/0", "1/2/3"])
def test_malformed_shard_is_refused_naming_the_flag(text):
    with pytest.raises(ConfigError, match=rf"^--shard '{text}': expected i/N"):
        parse_shard(text)


def test_a_shard_is_a_contiguous_block_not_every_nth_item():
    items = list(range(10))
    assert [select_shard(items, i, 3) for i in range(3)] == [[0, 1, 2], [3, 4, 5], [6, 7, 8, 9]]


@pytest.mark.parametrize(("length", "count"), [(0, 3), (1, 4), (7, 7), (14, 5), (100, 8)])
def test_shards_cover_every_item_exactly_once_in_order(length, count):
    items = list(range(length))
    assert [x for i in range(count) for x in select_shard(items, i, count)] == items


@pytest.mark.parametrize(("length", "count"), [(14, 4), (15, 3), (2, 5)])
def test_shard_sizes_differ_by_at_most_one(length, count):
    sizes = [len(select_shard(list(range(length)), i, count)) for i in range(count)]
    assert max(sizes) - min(sizes) <= 1


def test_a_volume_grid_split_in_as_many_shards_as_volumes_mixes_volumes():
    # The case round-robin gets wrong: 2 fractions x 3 volumes over 3 machines would give
    # one machine every n=1000 run and another every n=20000 run.
    grid = [(gf, n) for gf in (0.0, 0.5) for n in (1000, 5000, 20000)]
    volumes = [{n for _, n in select_shard(grid, i, 3)} for i in range(3)]
    assert volumes == [{1000, 5000}, {20000, 1000}, {5000, 20000}]
