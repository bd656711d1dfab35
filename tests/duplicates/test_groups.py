"""Groups around keepers: no chaining, and the keeper rule."""

import numpy as np

from vistamatch.duplicates import NeighbourGraph, keeper_groups, keeper_key
from vistamatch.duplicates.files import FileFacts


def graph(size, pairs):
    first, second, scores = zip(*pairs)
    return NeighbourGraph(size, 0.9, np.array(first), np.array(second), np.array(scores, np.float32), np.zeros(size, np.float32))


def as_sets(groups):
    return [(g.keeper, g.members.tolist(), [round(s, 3) for s in g.scores.tolist()]) for g in groups]


def test_no_chaining():
    # 0~1 and 1~2, but 0 is far from 2; 3~4 on their own
    g = graph(5, [(0, 1, 0.97), (1, 2, 0.96), (3, 4, 0.99)])
    groups = keeper_groups(g, np.arange(5))
    assert as_sets(groups) == [(0, [1], [0.97]), (3, [4], [0.99])]  # 2 is in no group: it is far from 0
    # with 2 the better keeper, it keeps 1 and 0 is left alone
    assert as_sets(keeper_groups(g, np.array([2, 1, 0, 3, 4]))) == [(2, [1], [0.96]), (3, [4], [0.99])]
    # with 1 the best, 1 keeps both: each is within the threshold of the keeper
    assert as_sets(keeper_groups(g, np.array([1, 0, 2, 3, 4]))) == [(1, [0, 2], [0.97, 0.96]), (3, [4], [0.99])]


def test_every_member_is_within_the_threshold_of_its_keeper():
    rng = np.random.default_rng(3)
    size = 60
    pairs = {(a, b): rng.uniform(0.9, 1.0) for a, b in rng.integers(0, size, (200, 2)) if a < b}
    g = graph(size, [(a, b, s) for (a, b), s in pairs.items()])
    order = rng.permutation(size)
    seen = set()
    for group in keeper_groups(g, order):
        rows = {group.keeper, *group.members.tolist()}
        assert not rows & seen  # a row is in one group at most
        seen |= rows
        for member, score in zip(group.members.tolist(), group.scores.tolist()):
            key = (min(group.keeper, member), max(group.keeper, member))
            assert key in pairs and abs(pairs[key] - score) < 1e-6  # a real pair with the keeper
        # the keeper comes first in the order among its members
        position = {row: i for i, row in enumerate(order.tolist())}
        assert all(position[group.keeper] < position[m] for m in group.members.tolist())


def test_rows_left_out_of_the_order_take_no_part():
    g = graph(3, [(0, 1, 0.99), (0, 2, 0.98)])
    assert as_sets(keeper_groups(g, np.array([1, 2]))) == []  # 0 is gone: 1 and 2 are not a pair
    assert as_sets(keeper_groups(g, np.array([2, 0]))) == [(2, [0], [0.98])]


def test_members_closest_first():
    g = graph(4, [(0, 1, 0.91), (0, 2, 0.99), (0, 3, 0.95)])
    assert as_sets(keeper_groups(g, np.arange(4))) == [(0, [2, 3, 1], [0.99, 0.95, 0.91])]


def test_keeper_rule():
    def facts(pixels, size, mtime):
        return FileFacts(size, mtime, pixels, 1)

    candidates = {
        "small.jpg": facts(100, 9000, 1),  # fewest pixels: last
        "big_light.jpg": facts(400, 100, 5),
        "big_heavy_new.jpg": facts(400, 500, 9),
        "big_heavy_old_longer.jpg": facts(400, 500, 2),
        "big_heavy_old.jpg": facts(400, 500, 2),  # most pixels, largest, oldest, shortest: first
        "bag_heavy_old.jpg": facts(400, 500, 2),  # as long as the one above: by path
    }
    ranked = sorted(candidates, key=lambda p: keeper_key(p, candidates[p]))
    assert ranked == ["bag_heavy_old.jpg", "big_heavy_old.jpg", "big_heavy_old_longer.jpg", "big_heavy_new.jpg", "big_light.jpg", "small.jpg"]
    preferred = sorted(candidates, key=lambda p: keeper_key(p, candidates[p], prefer="small*"))
    assert preferred[0] == "small.jpg"
    unreadable = FileFacts(10**9, 0, None, None)  # no header: counts as 0 pixels
    assert keeper_key("x.jpg", unreadable) > keeper_key("small.jpg", candidates["small.jpg"])
