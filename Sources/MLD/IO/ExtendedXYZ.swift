import Foundation

/// Extended XYZ, the form ASE reads and writes:
///
///     192
///     Lattice="12.4 0 0 0 12.4 0 0 0 12.4" Properties=species:S:1:pos:R:3:velo:R:3 step=0 time=0.0 pbc="T T T"
///     O 1.11 1.68 1.30 -0.003 0.0004 0.001
///
/// Columns: `species` (element symbol), `pos` (Å), optionally `velo` (Å/fs; `vel` and
/// `velocities` are read too) and `forces` (eV/Å). `pbc` must be "T T T" where given: mld
/// simulates periodic boxes only.
/// `time` is in fs. Only orthorhombic lattices are accepted. Files written by ASE carry
/// `momenta` (u·Å per ASE time unit) instead of `velo`; they are read with ASE's masses
/// (or a `masses` column) and converted to Å/fs.
public enum ExtendedXYZ {
    /// ASE's unit of time in fs: Å·sqrt(u/eV) = 10.1805056 fs.
    public static let aseTimeUnit: Double = 1e5 * (1.66053906660e-27 / 1.602176634e-19).squareRoot()

    /// Masses in u that ASE uses for the elements mld knows (IUPAC 2016, `ase.data.atomic_masses`).
    static let aseMasses: [String: Double] = [
        "H": 1.008, "D": 2.014, "He": 4.002602, "Li": 6.94, "C": 12.011, "N": 14.007,
        "O": 15.999, "F": 18.998403163, "Na": 22.98976928, "Mg": 24.305, "P": 30.973761998,
        "S": 32.06, "Cl": 35.45, "K": 39.0983, "Ca": 40.078,
    ]

    /// The text of one frame: the header of `formatHeader`, then one line per atom with every
    /// number in Swift's shortest round-trip form (`formatAtomBytes`).
    public static func format(_ c: Configuration) -> String {
        formatHeader(c) + String(decoding: formatAtomBytes(c, 0..<c.count), as: UTF8.self)
    }

    /// Writes frames to `path` atomically (temporary name, then rename).
    public static func write(_ frames: [Configuration], to path: String) throws {
        try AtomicFile.write(frames.map(format).joined(), to: path)
    }

    /// Reads every frame of `path` (plain or `.xz`).
    public static func read(_ path: String) throws -> [Configuration] {
        let lines = try TextFile.lines(path)
        var frames: [Configuration] = []
        var i = 0
        while i < lines.count {
            let t = lines[i].trimmingCharacters(in: .whitespaces)
            if t.isEmpty { i += 1; continue }
            guard let n = Int(t), n > 0 else {
                throw MLDError.input(file: path, line: i + 1, problem: "expected an atom count, found '\(t.prefix(40))'")
            }
            guard i + 1 < lines.count else {
                throw MLDError.input(file: path, line: i + 1, problem: "truncated frame: no comment line")
            }
            frames.append(try parseFrame(count: n, comment: lines[i + 1], lines: lines, first: i + 2, path: path))
            i += 2 + n
        }
        if frames.isEmpty { throw MLDError.input(file: path, line: nil, problem: "no frames") }
        return frames
    }

    /// Parses `key=value` and `key="quoted value"` pairs of an extended-XYZ comment line.
    public static func keyValues(_ comment: Substring) -> [String: String] {
        var out: [String: String] = [:]
        var s = comment[...]
        while true {
            s = s.drop(while: { $0 == " " || $0 == "\t" })
            guard !s.isEmpty else { break }
            let key = s.prefix(while: { $0 != "=" && $0 != " " && $0 != "\t" })
            s = s.dropFirst(key.count)
            guard s.first == "=" else { out[String(key)] = "T"; continue }
            s = s.dropFirst()
            var value: Substring
            if let q = s.first, q == "\"" || q == "'" {
                s = s.dropFirst()
                value = s.prefix(while: { $0 != q })
                s = s.dropFirst(value.count + 1)
            } else {
                value = s.prefix(while: { $0 != " " && $0 != "\t" })
                s = s.dropFirst(value.count)
            }
            out[String(key)] = String(value)
        }
        return out
    }

    static func parseFrame(count n: Int, comment: Substring, lines: [Substring], first: Int,
                           path: String) throws -> Configuration {
        let kv = keyValues(comment)
        let commentLine = first
        guard let lattice = kv["Lattice"] else {
            throw MLDError.input(file: path, line: commentLine, problem: "no Lattice= in the comment line")
        }
        let m = lattice.split(separator: " ").compactMap { Double($0) }
        guard m.count == 9 else {
            throw MLDError.input(file: path, line: commentLine, problem: "Lattice needs 9 numbers")
        }
        if let pbc = kv["pbc"] {
            let flags = pbc.split(whereSeparator: { $0 == " " || $0 == "\t" || $0 == "," })
            guard flags.count == 3, flags.allSatisfy({ ["T", "t", "True", "true", "TRUE", "1"].contains($0) }) else {
                throw MLDError.input(file: path, line: commentLine, problem: "pbc=\"\(pbc)\": mld simulates periodic boxes only (pbc=\"T T T\")")
            }
        }
        let box = try CP2KReader.orthorhombic(a: SIMD3(m[0], m[1], m[2]), b: SIMD3(m[3], m[4], m[5]),
                                              c: SIMD3(m[6], m[7], m[8]), file: path, line: commentLine)
        // Columns.
        let props = (kv["Properties"] ?? "species:S:1:pos:R:3").split(separator: ":").map(String.init)
        guard props.count % 3 == 0 else {
            throw MLDError.input(file: path, line: commentLine, problem: "Properties must be name:type:count triples")
        }
        var columns: [String: Int] = [:]
        var width = 0
        for k in stride(from: 0, to: props.count, by: 3) {
            guard let c = Int(props[k + 2]), c >= 1, c <= 1000 else {
                throw MLDError.input(file: path, line: commentLine, problem: "bad column count '\(props[k + 2])'")
            }
            // The columns mld reads must have the width it reads them with.
            let needed = props[k] == "species" ? 1
                : ["pos", "velo", "vel", "velocities", "momenta", "forces"].contains(props[k]) ? 3
                : props[k] == "masses" ? 1 : c
            guard c == needed else {
                throw MLDError.input(file: path, line: commentLine, problem: "column \(props[k]) has \(c) numbers; mld reads it with \(needed)")
            }
            columns[props[k]] = width
            width += c
        }
        guard let sCol = columns["species"], let pCol = columns["pos"] else {
            throw MLDError.input(file: path, line: commentLine, problem: "Properties must include species and pos")
        }
        // Velocities: mld's `velo`, also `vel` and `velocities`; ASE's `momenta` below.
        let vCol = columns["velo"] ?? columns["vel"] ?? columns["velocities"], fCol = columns["forces"]
        let momentaCol = vCol == nil ? columns["momenta"] : nil, massCol = columns["masses"]
        var atoms: [Element] = []
        var pos: [SIMD3<Double>] = [], vel: [SIMD3<Double>] = [], frc: [SIMD3<Double>] = []
        var cache: [Substring: Element] = [:]
        for j in 0..<n {
            let ln = first + j
            guard ln < lines.count, !lines[ln].allSatisfy({ $0 == " " || $0 == "\t" }) else {
                throw MLDError.input(file: path, line: min(ln, lines.count) + 1,
                                     problem: "truncated frame: expected \(n) atoms, found \(j)")
            }
            let f = lines[ln].split(whereSeparator: { $0 == " " || $0 == "\t" })
            guard f.count >= width else {
                throw MLDError.input(file: path, line: ln + 1, problem: "expected \(width) fields, found \(f.count)")
            }
            if let e = cache[f[sCol]] { atoms.append(e) } else {
                guard let e = Element(symbol: String(f[sCol])) else {
                    throw MLDError.input(file: path, line: ln + 1, problem: "unknown element '\(f[sCol])'")
                }
                cache[f[sCol]] = e; atoms.append(e)
            }
            func vec(_ c: Int) throws -> SIMD3<Double> {
                var v = SIMD3<Double>()
                for d in 0..<3 {
                    guard let x = Double(f[c + d]), x.isFinite else {
                        throw MLDError.input(file: path, line: ln + 1, problem: "not a number: '\(f[c + d])'")
                    }
                    v[d] = x
                }
                return v
            }
            pos.append(try vec(pCol))
            if let vCol { vel.append(try vec(vCol)) }
            if let momentaCol {
                let sym = String(f[sCol])
                let m: Double
                if let massCol {
                    guard let x = Double(f[massCol]), x > 0 else {
                        throw MLDError.input(file: path, line: ln + 1, problem: "bad mass '\(f[massCol])'")
                    }
                    m = x
                } else { m = ExtendedXYZ.aseMasses[sym] ?? atoms.last!.mass }
                vel.append(try vec(momentaCol) / (m * ExtendedXYZ.aseTimeUnit))
            }
            if let fCol { frc.append(try vec(fCol)) }
        }
        let time = kv["time"].flatMap { Double($0) }
        if let time, !time.isFinite {
            throw MLDError.input(file: path, line: commentLine, problem: "time=\(time) is not a finite number of fs")
        }
        return Configuration(atoms: atoms, positions: pos, velocities: vCol == nil && momentaCol == nil ? nil : vel,
                             forces: fCol == nil ? nil : frc, box: box,
                             step: kv["step"].flatMap { Int($0) }, time: time)
    }
}
