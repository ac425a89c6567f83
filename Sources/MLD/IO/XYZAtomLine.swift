import Foundation

/// The atom lines of a CP2K XYZ file (`Element x y z`, Å or Å/fs or Hartree/bohr), read from their
/// bytes: the lines of a whole run (half a million at 192 atoms and 900 frames, three files) were
/// most of the time `mld run`, `mld bench` and `mld fit` took to start when every field went
/// through Swift's Character-by-Character string machinery.
///
/// `parse` answers only lines it reads exactly as `XYZFrames.read`'s general path does: ASCII,
/// fields split at spaces and tabs, a known element symbol first, then three numbers that
/// `strtod` (the conversion behind `Double(_: String)`) takes whole, finite and without a range
/// error. Any other line gets nil, and the general path reads it (and names the problem).
struct XYZAtomLine {
    /// Elements by the bytes of their symbol (at most 8, packed little-endian).
    private var elements: [UInt64: Element] = [:]

    /// The element and the three numbers of `line`, or nil (see the type's comment).
    mutating func parse(_ line: Substring) -> (element: Element, vector: SIMD3<Double>)? {
        let parsed = line.utf8.withContiguousStorageIfAvailable { bytes -> (Element, SIMD3<Double>)? in
            var fields: (Int, Int, Int, Int, Int, Int, Int, Int) = (0, 0, 0, 0, 0, 0, 0, 0)
            var found = 0
            var i = 0
            let n = bytes.count
            while i < n {
                let b = bytes[i]
                if b >= 0x80 { return nil }
                if b == 0x20 || b == 0x09 { i &+= 1; continue }
                var j = i &+ 1
                while j < n {
                    let c = bytes[j]
                    if c >= 0x80 { return nil }
                    if c == 0x20 || c == 0x09 { break }
                    j &+= 1
                }
                switch found {
                case 0: fields.0 = i; fields.1 = j
                case 1: fields.2 = i; fields.3 = j
                case 2: fields.4 = i; fields.5 = j
                case 3: fields.6 = i; fields.7 = j
                default: break
                }
                found &+= 1
                i = j
            }
            guard found >= 4, let base = bytes.baseAddress else { return nil }
            guard let element = self.element(base + fields.0, fields.1 &- fields.0),
                  let x = Self.number(base + fields.2, fields.3 &- fields.2),
                  let y = Self.number(base + fields.4, fields.5 &- fields.4),
                  let z = Self.number(base + fields.6, fields.7 &- fields.6) else { return nil }
            return (element, SIMD3(x, y, z))
        }
        guard let storage = parsed, let atom = storage else { return nil }
        return (atom.0, atom.1)
    }

    /// The element whose symbol is the `count` bytes at `p`, or nil.
    private mutating func element(_ p: UnsafePointer<UInt8>, _ count: Int) -> Element? {
        guard count <= 8 else { return nil }
        var key: UInt64 = 0
        for k in 0..<count { key |= UInt64(p[k]) << (8 * UInt64(k)) }
        if let e = elements[key] { return e }
        guard let e = Element(symbol: String(decoding: UnsafeBufferPointer(start: p, count: count), as: UTF8.self))
        else { return nil }
        elements[key] = e
        return e
    }

    /// The number spelt by the `count` bytes at `p`, if `strtod` takes them whole, without a
    /// range error, to a finite value; else nil.
    private static func number(_ p: UnsafePointer<UInt8>, _ count: Int) -> Double? {
        guard count < 64 else { return nil }
        return withUnsafeTemporaryAllocation(of: CChar.self, capacity: 64) { buffer -> Double? in
            let c = buffer.baseAddress!
            UnsafeMutableRawPointer(c).copyMemory(from: p, byteCount: count)
            c[count] = 0
            var end: UnsafeMutablePointer<CChar>?
            errno = 0
            let v = strtod(c, &end)
            guard errno != ERANGE, end == c + count, v.isFinite else { return nil }
            return v
        }
    }
}
