import MLD

/// A seeded mutation of bytes: the same seed and input give the same output, so any input the
/// fuzzer finds is reproduced by its seed alone.
///
/// Each mutation applies one to three of: bit flips, a truncation, a duplicated, deleted or
/// swapped line, a number replaced by a huge, NaN, infinite, negative or empty value, CRLF line
/// ends, a UTF-8 byte-order mark, and inserted foreign bytes (NUL, 0xFF, gzip's magic).
struct Mutator {
    var rng: SplitMix64

    init(seed: UInt64) { rng = SplitMix64(seed: seed) }

    /// Values that replace a number.
    static let hostileNumbers: [String] = [
        "nan", "NaN", "-nan", "inf", "-inf", "Infinity", "1e308", "-1e308", "1e309", "1e-320", "0", "-0",
        "-1", "9223372036854775807", "-9223372036854775808", "9223372036854775808",
        "99999999999999999999999", "1e30", "-1e30", "4294967296", "2147483648", "", "1.5", "0x10", "1,5", "--1",
    ]
    /// Byte strings inserted anywhere.
    static let foreignBytes: [[UInt8]] = [
        [0], [0xff], [0xfe, 0xff], [0x1f, 0x8b, 0x08, 0x00], [0xef, 0xbb, 0xbf], [0x0d], [0x0a], [0x09],
        Array("\"".utf8), Array("=".utf8), Array(",".utf8), Array("{".utf8), Array("]".utf8), [0xc3], [0x80],
    ]

    mutating func below(_ n: Int) -> Int { n <= 1 ? 0 : Int(rng.next() % UInt64(n)) }
    mutating func chance(_ p: Double) -> Bool { rng.nextUniform() < p }

    /// One to three mutations of `input`.
    mutating func mutate(_ input: [UInt8]) -> [UInt8] {
        var b = input
        for _ in 0...below(3) { b = mutateOnce(b) }
        return b
    }

    mutating func mutateOnce(_ input: [UInt8]) -> [UInt8] {
        var b = input
        switch below(11) {
        case 0:     // bit flips
            guard !b.isEmpty else { return b }
            for _ in 0...below(4) { b[below(b.count)] ^= UInt8(1) << UInt8(below(8)) }
        case 1:     // truncation
            b.removeLast(b.isEmpty ? 0 : below(b.count) + 1)
        case 2:     // duplicated line
            var lines = Self.lines(b)
            let k = below(lines.count)
            lines.insert(lines[k], at: k)
            b = Self.joined(lines)
        case 3:     // deleted line
            var lines = Self.lines(b)
            if lines.count > 1 { lines.remove(at: below(lines.count)) }
            b = Self.joined(lines)
        case 4:     // swapped lines
            var lines = Self.lines(b)
            lines.swapAt(below(lines.count), below(lines.count))
            b = Self.joined(lines)
        case 5, 6, 7:   // a number replaced by a hostile value (most likely: most fields are numbers)
            let numbers = Self.numberRanges(b)
            guard !numbers.isEmpty else { return mutateOnce(b) }
            let r = numbers[below(numbers.count)]
            b.replaceSubrange(r, with: Array(Self.hostileNumbers[below(Self.hostileNumbers.count)].utf8))
        case 8:     // CRLF line ends
            var out: [UInt8] = []
            out.reserveCapacity(b.count + b.count / 16)
            for x in b { if x == 0x0a { out.append(0x0d) }; out.append(x) }
            b = out
        case 9:     // byte-order mark
            b.insert(contentsOf: [0xef, 0xbb, 0xbf], at: 0)
        default:    // foreign bytes
            b.insert(contentsOf: Self.foreignBytes[below(Self.foreignBytes.count)], at: below(b.count + 1))
        }
        return b
    }

    /// Lines without their newline bytes.
    static func lines(_ b: [UInt8]) -> [ArraySlice<UInt8>] {
        b.split(separator: 0x0a, omittingEmptySubsequences: false)
    }

    static func joined(_ lines: [ArraySlice<UInt8>]) -> [UInt8] {
        var out: [UInt8] = []
        for (k, l) in lines.enumerated() {
            if k > 0 { out.append(0x0a) }
            out.append(contentsOf: l)
        }
        return out
    }

    /// The byte ranges of the decimal numbers in `b` (digits with an optional sign, point and
    /// exponent).
    static func numberRanges(_ b: [UInt8]) -> [Range<Int>] {
        var out: [Range<Int>] = []
        var i = 0
        func digit(_ x: UInt8) -> Bool { x >= 0x30 && x <= 0x39 }
        while i < b.count {
            guard digit(b[i]) else { i += 1; continue }
            var start = i
            if start > 0 && (b[start - 1] == 0x2d || b[start - 1] == 0x2b) { start -= 1 }
            while i < b.count && (digit(b[i]) || b[i] == 0x2e || b[i] == 0x65 || b[i] == 0x45
                                   || ((b[i] == 0x2d || b[i] == 0x2b) && (b[i - 1] == 0x65 || b[i - 1] == 0x45))) { i += 1 }
            out.append(start..<i)
        }
        return out
    }
}
