import Dispatch
import Foundation

/// A configuration as a LAMMPS data file (`read_data`), atom style `atomic`.
///
/// Atom type t is species t - 1 of the configuration (`Configuration.elements` order) and gets
/// that element's mass (g/mol = u) in the Masses section, with the symbol as a comment. Atom ids
/// are 1...N in configuration order. Positions (Å) are wrapped into the box [0, L), with image
/// flags that keep the unwrapped position; velocities, when the configuration has them, are
/// converted from Å/fs into the unit style's velocity unit (`LammpsUnits`). Numbers are Swift's
/// shortest round-trip decimal, so `read_data` gets the doubles mld holds.
public enum LammpsDataFile {
    /// The whole text of the data file.
    public static func header(_ c: Configuration, units: LammpsUnits, title: String) -> String {
        let L = c.box.lengths
        var s = "\(title.replacingOccurrences(of: "\n", with: " ")) (units \(units.rawValue))\n\n"
        s += "\(c.count) atoms\n\(c.elements.count) atom types\n\n"
        s += "0 \(L.x) xlo xhi\n0 \(L.y) ylo yhi\n0 \(L.z) zlo zhi\n\n"
        s += "Masses\n\n"
        for (t, e) in c.elements.enumerated() { s += "\(t + 1) \(e.mass) # \(e.symbol)\n" }
        return s
    }

    /// The lines `range` of the Atoms section (`id type x y z ix iy iz`) as UTF-8 bytes.
    static func atomBytes(_ c: Configuration, _ range: Range<Int>) -> [UInt8] {
        var out: [UInt8] = []
        out.reserveCapacity(range.count * 80)
        @inline(__always) func text(_ s: String) { var s = s; s.withUTF8 { out.append(contentsOf: $0) } }
        let L = c.box.lengths
        for i in range {
            let p = c.positions[i]
            let w = c.box.wrap(p)
            let image = SIMD3<Int>(((p - w) / L).rounded(.toNearestOrAwayFromZero))
            text("\(i + 1) \(c.species[i] + 1) \(w.x) \(w.y) \(w.z) \(image.x) \(image.y) \(image.z)\n")
        }
        return out
    }

    /// The lines `range` of the Velocities section (`id vx vy vz`) as UTF-8 bytes.
    static func velocityBytes(_ c: Configuration, _ range: Range<Int>, units: LammpsUnits) -> [UInt8] {
        var out: [UInt8] = []
        out.reserveCapacity(range.count * 64)
        let f = units.velocityPerAngstromPerFs
        for i in range {
            let v = c.velocities![i] * f
            var s = "\(i + 1) \(v.x) \(v.y) \(v.z)\n"
            s.withUTF8 { out.append(contentsOf: $0) }
        }
        return out
    }

    /// Writes the data file under a temporary name beside `path`, then renames it into place.
    public static func write(_ c: Configuration, to path: String, units: LammpsUnits, title: String,
                             blockAtoms: Int = 32_768) throws {
        let url = URL(fileURLWithPath: path)
        let tmp = url.deletingLastPathComponent().appendingPathComponent(".\(url.lastPathComponent).\(getpid()).tmp")
        TemporaryPaths.register(tmp.path)
        defer { TemporaryPaths.unregister(tmp.path) }
        guard FileManager.default.createFile(atPath: tmp.path, contents: nil),
              let handle = FileHandle(forWritingAtPath: tmp.path) else {
            throw MLDError.output(file: path, problem: "cannot be created (is the folder writable?)")
        }
        do {
            try handle.write(contentsOf: Data(header(c, units: units, title: title).utf8))
            func section(_ name: String, _ lines: @escaping (Range<Int>) -> [UInt8]) throws {
                try handle.write(contentsOf: Data("\n\(name)\n\n".utf8))
                let blocks = (c.count + blockAtoms - 1) / blockAtoms
                let batch = max(2, 4 * AvailableCores.count)
                var first = 0
                while first < blocks {
                    let last = min(blocks, first + batch)
                    var texts = [Data](repeating: Data(), count: last - first)
                    texts.withUnsafeMutableBufferPointer { out in
                        DispatchQueue.concurrentPerform(iterations: last - first) { k in
                            let lo = (first + k) * blockAtoms, hi = min(c.count, lo + blockAtoms)
                            out[k] = Data(lines(lo..<hi))
                        }
                    }
                    for t in texts { try handle.write(contentsOf: t) }
                    first = last
                }
            }
            try section("Atoms # atomic") { atomBytes(c, $0) }
            if c.velocities != nil { try section("Velocities") { velocityBytes(c, $0, units: units) } }
            try handle.close()
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
}
