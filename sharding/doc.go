// Package sharding decides which of n MinIO servers holds an object, given
// the SHA-256 of the object's content. It is pure: no I/O, no state.
//
// # Algorithm
//
// The SHA-256 space is cut into n contiguous ranges of nearly equal size.
// Only the first 8 hex digits of the hash are used, read as a big-endian
// uint32 prefix p, and
//
//	shard = floor(p * n / 2^32)
//
// computed in 64-bit arithmetic, so it cannot overflow for any n up to
// [MaxServers]. Shard i therefore holds the prefixes
//
//	[ceil(i * 2^32 / n), ceil((i+1) * 2^32 / n) - 1]
//
// which [Ranges] lists. The ranges tile the whole uint32 space without gaps or
// overlaps, every shard is non-empty, their sizes differ by at most one prefix,
// and the shard index never decreases as the prefix grows. Because SHA-256
// output is uniform, objects spread evenly over the servers for every n >= 1,
// not only for powers of two.
//
// For n = 5 the ranges are 00000000-33333333, 33333334-66666666,
// 66666667-99999999, 9999999a-cccccccc and cccccccd-ffffffff.
//
// # Why not the old scheme
//
// The previous backup system computed int(first_hex_digit) // n. That only
// spreads the 16 values of the first digit correctly when n happens to be 4
// (16/4 = 4 digits per server): for n = 3 it yields shards 0..5, i.e. indices
// past the last server; for n = 5 it yields 0..3, so the fifth server is never
// used; for n = 2 it yields 0..7. Range partitioning on a 32-bit prefix is
// correct for every n.
//
// # Changing the number of servers moves data
//
// Shard depends on n: adding or removing a server changes the range of almost
// every shard, so most objects would be looked up on a different server than
// the one they were written to. The tool therefore never recomputes the
// location of an existing object: the metadata database records the endpoint
// every object was stored on, and restores read from that recorded endpoint
// (storage.Sharded.ByEndpoint), never from today's shard map. Shard is only
// used to choose where a new object is written. `mediabackups rebalance`
// moves the objects that are not on their shard's server (their home) to
// it, and records each move.
//
// # Server states and fallbacks
//
// An operator can take a server out of the write path without changing the
// shard map: a [State] says whether a server is [Active], [ReadOnly]
// (maintenance: read, never written) or [Down] (not contacted at all). The
// shard of an object (its home) never depends on states, so taking a server
// out and putting it back moves no range. While the home of a range may not
// be written, its new objects go to its fallback: the next active server in
// shard order after it, wrapping around from the last server to the first
// ([Targets]). A whole range goes to one neighbour, which is easy to predict
// and to check (`mediabackups shards` prints it), at the cost of doubling
// that neighbour's share of new objects while the home is out.
package sharding
