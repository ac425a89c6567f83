import Dispatch
import Foundation

extension ExtendedXYZ {
    /// Writes one frame to `path` atomically without ever holding the whole text in memory:
    /// the atom lines are formatted in blocks of `blockAtoms` on all cores, a few blocks at a
    /// time, and appended to a temporary file that is renamed into place at the end.
    ///
    /// The bytes are exactly those of `format(c)` (same header, same shortest round-trip
    /// numbers), so small and big boxes read back the same way; memory stays
    /// O(`blockAtoms` x cores) on top of the configuration itself.
    public static func writeStreaming(_ c: Configuration, to path: String,
                                      blockAtoms: Int = 32_768) throws {
        let url = URL(fileURLWithPath: path)
        let tmp = url.deletingLastPathComponent()
            .appendingPathComponent(".\(url.lastPathComponent).\(getpid()).tmp")
        TemporaryPaths.register(tmp.path)
        defer { TemporaryPaths.unregister(tmp.path) }
        guard FileManager.default.createFile(atPath: tmp.path, contents: nil),
              let handle = FileHandle(forWritingAtPath: tmp.path) else {
            throw MLDError.output(file: path, problem: "cannot be created (is the folder writable?)")
        }
        do {
            try handle.write(contentsOf: Data(formatHeader(c).utf8))
            let blocks = (c.count + blockAtoms - 1) / blockAtoms
            let batch = max(2, 4 * AvailableCores.count)
            var first = 0
            while first < blocks {
                let last = min(blocks, first + batch)
                var texts = [Data](repeating: Data(), count: last - first)
                texts.withUnsafeMutableBufferPointer { out in
                    DispatchQueue.concurrentPerform(iterations: last - first) { k in
                        let lo = (first + k) * blockAtoms, hi = min(c.count, lo + blockAtoms)
                        out[k] = Data(formatAtomBytes(c, lo..<hi))
                    }
                }
                for t in texts { try handle.write(contentsOf: t) }
                first = last
            }
            try handle.close()
            // rename(2) replaces an existing file atomically.
            guard rename(tmp.path, path) == 0 else {
                throw MLDError.output(file: path, problem: "cannot be renamed into place (\(String(cString: strerror(errno))))")
            }
        } catch {
            try? handle.close()
            try? FileManager.default.removeItem(at: tmp)
            if let e = error as? MLDError { throw e }
            throw MLDError.output(file: path, problem: "cannot be written (\(error.localizedDescription))")
        }
    }

    /// The atom-count line and the comment line of a frame.
    static func formatHeader(_ c: Configuration) -> String {
        var props = "species:S:1:pos:R:3"
        if c.velocities != nil { props += ":velo:R:3" }
        if c.forces != nil { props += ":forces:R:3" }
        let L = c.box.lengths
        var header = "Lattice=\"\(L.x) 0.0 0.0 0.0 \(L.y) 0.0 0.0 0.0 \(L.z)\" Properties=\(props)"
        if let s = c.step { header += " step=\(s)" }
        if let t = c.time { header += " time=\(t)" }
        header += " pbc=\"T T T\""
        return "\(c.count)\n\(header)\n"
    }

    /// The lines of atoms `range`, as UTF-8 bytes. Numbers are Swift's
    /// shortest round-trip `description`, appended byte-wise without intermediate strings.
    static func formatAtomBytes(_ c: Configuration, _ range: Range<Int>) -> [UInt8] {
        let symbols = c.elements.map { Array($0.symbol.utf8) }
        let columns = 3 + (c.velocities == nil ? 0 : 3) + (c.forces == nil ? 0 : 3)
        var out: [UInt8] = []
        out.reserveCapacity(range.count * (4 + 22 * columns))
        @inline(__always) func number(_ x: Double) {
            out.append(0x20)
            var d = x.description
            d.withUTF8 { out.append(contentsOf: $0) }
        }
        for i in range {
            out.append(contentsOf: symbols[c.species[i]])
            let r = c.positions[i]
            number(r.x); number(r.y); number(r.z)
            if let v = c.velocities?[i] { number(v.x); number(v.y); number(v.z) }
            if let f = c.forces?[i] { number(f.x); number(f.y); number(f.z) }
            out.append(0x0A)
        }
        return out
    }
}
