"""CanonicalChain keeps the run of blocks linked to the anchor as blocks come and go;
checked against a walk from each block to the anchor over random histories."""

from __future__ import annotations

import random

import pytest

from bizra_node.validation.canonical import CanonicalChain, Link


def walk(chain: CanonicalChain, number: int) -> bool:
    """The definition: every block from ``number`` to the anchor kept, each linking to
    the next."""
    anchor = chain.anchor
    if anchor is None:
        return False
    step = -1 if number > anchor.number else 1
    n = number
    while n != anchor.number:
        block, other = chain._blocks.get(n), chain._blocks.get(n + step)
        if block is None or other is None:
            return False
        if (block.parent != other.hash) if step == -1 else (other.parent != block.hash):
            return False
        n += step
    return True


def h(fork: int, n: int) -> bytes:
    return fork.to_bytes(4, "big") + (n + 1).to_bytes(28, "big")


@pytest.mark.parametrize("seed", range(40))
def test_the_linked_run_is_the_walk(seed: int) -> None:
    rng = random.Random(seed)
    chain = CanonicalChain(max_blocks=rng.choice([16, 40, 1000]))
    fork = 0
    forks = {n: 0 for n in range(80)}  # the fork each number's canonical block is on
    for _ in range(400):
        op = rng.random()
        n = rng.randrange(80)
        if op < 0.6:  # a header of the current chain, or of an old fork
            f = forks[n] if rng.random() < 0.9 else rng.randrange(fork + 1)
            chain.add(n, h(f, n), h(forks.get(n - 1, 0) if f == forks[n] else f, n - 1))
        elif op < 0.7:  # a reorg from n up
            fork += 1
            for m in range(n, 80):
                forks[m] = fork
            chain.drop_from(n)
        elif op < 0.8:  # a new anchor on the current chain
            chain.set_anchor(n, h(forks[n], n), h(forks.get(n - 1, 0), n - 1))
        else:
            continue
        for m in range(-1, 82):
            assert chain.linked_down_to_anchor(m) == walk(chain, m), (seed, m)


def test_a_run_grows_from_the_anchor_as_gaps_fill() -> None:
    chain = CanonicalChain()
    chain.set_anchor(10, h(0, 10), h(0, 9))
    assert chain.add(13, h(0, 13), h(0, 12)) is Link.DETACHED
    assert not chain.linked_down_to_anchor(13)
    chain.add(11, h(0, 11), h(0, 10))
    assert chain.linked_down_to_anchor(11) and not chain.linked_down_to_anchor(13)
    chain.add(12, h(0, 12), h(0, 11))
    assert chain.linked_down_to_anchor(13)
    chain.add(9, h(0, 9), h(0, 8))
    assert chain.linked_down_to_anchor(9) and not chain.linked_down_to_anchor(8)
    chain.drop_from(12)
    assert chain.linked_down_to_anchor(11) and not chain.linked_down_to_anchor(12)
