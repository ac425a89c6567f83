/// Ranks by counting, for the order the sums over a neighbour set run in: the rank of each of n
/// distinct keys (in 0...Int32.max) is the number of keys below it, counted eight keys at a time
/// against every key of the set (O(n²/8), no branches; the sets are tens of atoms).
enum RankCount {
    /// Calls `store(c, counts)` for c = 0, 8, 16, ... below n, where lane l of `counts` is `base`
    /// plus the number of the n keys at `key` below key[c + l], for c + l < n (the lanes past n
    /// hold counts that mean nothing). Reads key[c ..< c + 8] for every c, so up to 7 entries past
    /// n must be readable; their values do not matter.
    @inline(__always)
    static func countBelow(_ key: UnsafePointer<Int32>, count n: Int, base: Int32,
                           _ store: (Int, SIMD8<Int32>) -> Void) {
        let raw = UnsafeRawPointer(key)
        let first = SIMD8<Int32>(repeating: base)
        let lane = SIMD8<Int32>(0, 1, 2, 3, 4, 5, 6, 7)
        var c = 0
        while c < n {
            var a = raw.loadUnaligned(fromByteOffset: c &* 4, as: SIMD8<Int32>.self)
            // The last chunk's lanes past n are ranked too: they hold Int32.max so that every
            // subtraction below stays in range.
            let keep = (lane &- Int32(truncatingIfNeeded: n &- c)) &>> 31   // -1 for lanes below n
            a = (a & keep) | (SIMD8(repeating: .max) & ~keep)
            var count = first
            var j = 0
            while j < n {
                // key[j] - a is negative exactly where key[j] < a (both in 0...Int32.max, so it
                // cannot overflow): its sign spread over the lane is -1 there, 0 elsewhere
                count &-= (SIMD8(repeating: key[j]) &- a) &>> 31
                j &+= 1
            }
            store(c, count)
            c &+= 8
        }
    }
}
