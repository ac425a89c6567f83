import Foundation
import MLD
import Testing

/// `mld box --format lammps-data`: the data file holds the configuration mld box would write as
/// extended XYZ, with velocities in the unit style's units.
@Suite struct LammpsDataFileTests {
    static let data = "Data/cp2k-water64-xtb-300K"

    @Test(arguments: ["metal", "real"])
    func dataFileHoldsTheConfiguration(units: String) throws {
        let dir = FileManager.default.temporaryDirectory.appendingPathComponent("mld-lammps-data-\(getpid())-\(units)")
        try FileManager.default.createDirectory(at: dir, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(at: dir) }
        let out = dir.appendingPathComponent("water.data").path
        let r = try runMLD(["box", "--from", Self.data, "--frame", "720", "--replicate", "1x1x2",
                            "--format", "lammps-data", "--units", units, "--out", out])
        #expect(r.status == 0, "\(r.err)")
        let c = try Configuration.load(Self.data, frame: 720).replicated(SIMD3(1, 1, 2))
        let lines = try String(contentsOfFile: out, encoding: .utf8).split(separator: "\n", omittingEmptySubsequences: false).map(String.init)
        #expect(lines.contains("\(c.count) atoms"))
        #expect(lines.contains("\(c.elements.count) atom types"))
        #expect(lines.contains("0 \(c.box.lengths.z) zlo zhi"))
        #expect(lines.contains("1 \(c.elements[0].mass) # \(c.elements[0].symbol)"))
        let atoms = lines.firstIndex(of: "Atoms # atomic")! + 2
        let velocities = lines.firstIndex(of: "Velocities")! + 2
        let factor = units == "metal" ? 1000.0 : 1.0
        var worstPosition = 0.0, worstVelocity = 0.0
        for i in 0..<c.count {
            let a = lines[atoms + i].split(separator: " ").map { Double($0)! }
            #expect(Int(a[0]) == i + 1 && Int(a[1]) == c.species[i] + 1)
            let unwrapped = SIMD3(a[2], a[3], a[4]) + SIMD3(a[5], a[6], a[7]) * c.box.lengths
            worstPosition = max(worstPosition, Self.largest(unwrapped - c.positions[i]))
            let v = lines[velocities + i].split(separator: " ").map { Double($0)! }
            worstVelocity = max(worstVelocity, Self.largest(SIMD3(v[1], v[2], v[3]) / factor - c.velocities![i]))
        }
        #expect(worstPosition < 1e-12, "positions differ by \(worstPosition) Å")
        #expect(worstVelocity < 1e-15, "velocities differ by \(worstVelocity) Å/fs")
    }

    static func largest(_ d: SIMD3<Double>) -> Double { max(abs(d.x), abs(d.y), abs(d.z)) }

    @Test func unitsApplyToLammpsDataOnly() throws {
        let r = try runMLD(["box", "--molecules", "8", "--units", "real", "--out", "/tmp/never-written.xyz"])
        #expect(r.status == 1)
        #expect(r.err == "mld: error: --units applies to --format lammps-data only\n")
    }
}
