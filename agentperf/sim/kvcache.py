"""Paged KV cache with a hash-chain prefix cache (block accounting only, no tensors).

A block holds ``block_size`` tokens. A *full* block computed by some sequence is named by the
hash of (previous block's hash, its tokens), so equal prefixes give equal chains. Hashed blocks
are shared by reference count; when the count drops to zero the block stays cached but becomes
evictable, least recently released first. Blocks a sequence holds that are not (yet) full or not
yet computed are anonymous. Capacity is shared: ``anonymous + hashed (incl. evictable) <= capacity``.
"""

from __future__ import annotations

from collections import OrderedDict
from collections.abc import Sequence

ROOT_HASH = 0


def chain_hashes(tokens: Sequence[object], block_size: int, start: Sequence[int] = ()) -> list[int]:
    """Hashes of every full block of ``tokens``, continuing the chain already in ``start``."""
    hashes = list(start)
    prev = hashes[-1] if hashes else ROOT_HASH
    for i in range(len(hashes), len(tokens) // block_size):
        prev = hash((prev, *tokens[i * block_size : (i + 1) * block_size]))
        hashes.append(prev)
    return hashes


class KVCache:
    """Block accounting for the running sequences plus the prefix cache of released blocks."""

    def __init__(self, capacity: int, block_size: int) -> None:
        self.capacity = capacity
        self.block_size = block_size
        self._refs: dict[int, int] = {}
        self._evictable: OrderedDict[int, None] = OrderedDict()
        self._anonymous = 0

    @property
    def free(self) -> int:
        """Blocks holding nothing at all."""
        return self.capacity - self._anonymous - len(self._refs)

    @property
    def available(self) -> int:
        """Blocks that can be handed out now: free ones plus evictable cached ones."""
        return self.free + len(self._evictable)

    @property
    def used(self) -> int:
        """Blocks referenced by sequences (what vLLM reports as KV-cache usage)."""
        return self._anonymous + len(self._refs) - len(self._evictable)

    @property
    def cached_blocks(self) -> int:
        """Hashed blocks in the cache, referenced or evictable."""
        return len(self._refs)

    def match(self, hashes: Sequence[int]) -> int:
        """How many leading blocks of the chain ``hashes`` are cached."""
        for i, block in enumerate(hashes):
            if block not in self._refs:
                return i
        return len(hashes)

    def evictable_among(self, hashes: Sequence[int]) -> int:
        """How many of ``hashes`` are cached but unreferenced (taking them shrinks ``available``)."""
        return sum(1 for block in hashes if block in self._evictable)

    def acquire(self, hashes: Sequence[int]) -> None:
        """Reference cached blocks (all must be present, see :meth:`match`)."""
        for block in hashes:
            self._ref(block)

    def allocate(self, count: int) -> bool:
        """Hand out ``count`` anonymous blocks, evicting cached ones as needed; False if too few."""
        if count > self.available:
            return False
        shortfall = count - self.free
        for _ in range(max(0, shortfall)):
            block, _none = self._evictable.popitem(last=False)
            del self._refs[block]
        self._anonymous += count
        return True

    def commit(self, block: int) -> None:
        """An anonymous block became full and computed: name it ``block`` (dedup if already cached)."""
        self._anonymous -= 1
        if block in self._refs:
            self._ref(block)
        else:
            self._refs[block] = 1

    def release(self, hashes: Sequence[int], anonymous: int) -> None:
        """Drop a sequence's references; its hashed blocks stay cached, tail first to be evicted."""
        self._anonymous -= anonymous
        for block in reversed(hashes):
            count = self._refs[block] - 1
            self._refs[block] = count
            if count == 0:
                self._evictable[block] = None

    def _ref(self, block: int) -> None:
        count = self._refs[block]
        if count == 0:
            del self._evictable[block]
        self._refs[block] = count + 1
