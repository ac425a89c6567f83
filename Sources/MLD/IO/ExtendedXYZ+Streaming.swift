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
        guard FileManager.default.createFile(atPath: tmp.path, contents: nil),
              let handle = FileHandle(forWritingAtPath: tmp.path) else {
            throw MLDError.output(file: path, problem: "cannot be created (is the folder writable?)")
        }
        do {
            try handle.write(contentsOf: Data(formatHeader(c).utf8))
            let blocks = (c.count + blockAtoms - 1) / blockAtoms
            let batch = max(2, 4 * ProcessInfo.processInfo.activeProcessorCount)
            var first = 0
            while first < blocks {
                let last = min(blocks, first + batch)
                var texts = [Data](repeating: Data(), count: last - first)
                texts.withUnsafeMutableBufferPointer { out in
                    DispatchQueue.concurrentPerform(iterations: last - first) { k in
                        let lo = (first + k) * blockAtoms, hi = min(c.count, lo + blockAtoms)
                        out[k] = Data(formatAtoms(c, lo..<hi).utf8)
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

    /// The atom-count line and the comment line of a frame, as `format` writes them.
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

    /// The lines of atoms `range`, as `format` writes them.
    static func formatAtoms(_ c: Configuration, _ range: Range<Int>) -> String {
        let symbols = c.elements.map(\.symbol)
        var out = ""
        out.reserveCapacity(range.count * (c.velocities == nil ? 64 : 128))
        for i in range {
            let r = c.positions[i]
            out += "\(symbols[c.species[i]]) \(r.x) \(r.y) \(r.z)"
            if let v = c.velocities?[i] { out += " \(v.x) \(v.y) \(v.z)" }
            if let f = c.forces?[i] { out += " \(f.x) \(f.y) \(f.z)" }
            out += "\n"
        }
        return out
    }
}
