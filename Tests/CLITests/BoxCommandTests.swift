import Foundation
import MLD
import Testing

/// A fresh temporary folder, removed by the caller.
func temporaryFolder(_ name: String) throws -> URL {
    let dir = FileManager.default.temporaryDirectory.appendingPathComponent("mld-\(name)-\(getpid())-\(UInt32.random(in: 0...UInt32.max))")
    try FileManager.default.createDirectory(at: dir, withIntermediateDirectories: true)
    return dir
}

/// `MLD_REQUIRE_ASE=1` (set by `make test`): a python3 without ASE fails the ASE tests instead
/// of skipping them.
let aseRequired: Bool = ProcessInfo.processInfo.environment["MLD_REQUIRE_ASE"] == "1"

/// Whether `python3 -c 'import ase'` works here.
let pythonHasASE: Bool = {
    let p = Process()
    p.executableURL = URL(fileURLWithPath: "/usr/bin/env")
    p.arguments = ["python3", "-c", "import ase"]
    p.standardOutput = FileHandle.nullDevice
    p.standardError = FileHandle.nullDevice
    guard (try? p.run()) != nil else { return false }
    p.waitUntilExit()
    if p.terminationStatus != 0 && !aseRequired {
        print("SKIPPED: python3 cannot import ase; the ASE read-back test of mld box does not run")
    }
    return p.terminationStatus == 0
}()

@Suite struct BoxCommandTests {
    @Test func freshBoxHasTheRequestedMolecules() throws {
        let dir = try temporaryFolder("box")
        defer { try? FileManager.default.removeItem(at: dir) }
        let out = dir.appendingPathComponent("box.xyz").path
        let r = try runMLD(["box", "--molecules", "400", "--density", "0.997", "--temperature", "300",
                            "--seed", "3", "--out", out])
        #expect(r.status == 0, "\(r.err)")
        #expect(r.out.contains("1200 atoms"))
        let c = try ExtendedXYZ.read(out)[0]
        #expect(c.count == 1200)
        #expect(c.velocities != nil)
        #expect(abs(BoxSummary.density(of: c) - 0.997) / 0.997 < 0.01)
        var minOO = Double.infinity
        let o = (0..<c.count).filter { c.elements[c.species[$0]].symbol == "O" }
        #expect(o.count == 400)
        for a in 0..<o.count {
            for b in (a + 1)..<o.count {
                let d = c.box.displacement(from: c.positions[o[a]], to: c.positions[o[b]])
                minOO = min(minOO, (d * d).sum().squareRoot())
            }
        }
        #expect(minOO >= 2.4)
        for i in o {
            let h = (0..<c.count).filter { j in
                guard c.elements[c.species[j]].symbol == "H" else { return false }
                let d = c.box.displacement(from: c.positions[i], to: c.positions[j])
                return (d * d).sum().squareRoot() < 1.1
            }
            #expect(h.count == 2, "O \(i) has \(h.count) H within 1.1 Å")
        }
    }

    @Test func replicatedCP2KFrameAsJSON() throws {
        let dir = try temporaryFolder("rep")
        defer { try? FileManager.default.removeItem(at: dir) }
        let out = dir.appendingPathComponent("big.xyz").path
        let r = try runMLD(["box", "--from", "Data/cp2k-water64-xtb-300K", "--frame", "0",
                            "--replicate", "2x2x2", "--out", out, "--json"])
        #expect(r.status == 0, "\(r.err)")
        let obj = try JSONSerialization.jsonObject(with: Data(r.out.utf8)) as! [String: Any]
        #expect(obj["atoms"] as? Int == 1536)
        #expect(obj["molecules"] as? Int == 512)
        #expect(obj["replicate"] as? String == "2x2x2")
        let c = try ExtendedXYZ.read(out)[0]
        #expect(c.count == 1536)
        #expect(abs(c.box.lengths.x - 2 * 12.4138) < 1e-9)
        // Tiling an mld box file works too, and ends with the same per-atom content.
        let again = dir.appendingPathComponent("bigger.xyz").path
        let r2 = try runMLD(["box", "--from", out, "--replicate", "1x1x2", "--out", again])
        #expect(r2.status == 0, "\(r2.err)")
        let c2 = try ExtendedXYZ.read(again)[0]
        #expect(c2.count == 3072)
        #expect(Array(c2.positions[0..<1536]) == c.positions)
    }

    @Test(arguments: [
        ["box", "--out", "x.xyz"],
        ["box", "--molecules", "10", "--from", "Data/cp2k-water64-xtb-300K", "--out", "x.xyz"],
        ["box", "--molecules", "10", "--replicate", "2y2", "--out", "x.xyz"],
        ["box", "--molecules", "0", "--out", "x.xyz"],
        ["box", "--molecules", "100", "--density=-1", "--out", "x.xyz"],
        ["box", "--from", "Data/cp2k-water64-xtb-300K", "--frame", "5000", "--out", "x.xyz"],
        ["box", "--from", "no/such/dir", "--out", "x.xyz"],
        ["box", "--from", "Data/cp2k-water64-xtb-300K", "--seed", "3", "--out", "x.xyz"],
    ])
    func badOptionsAreOneLineErrors(args: [String]) throws {
        let r = try runMLD(args)
        #expect(r.status == 1)
        let lines = r.err.split(separator: "\n")
        #expect(lines.count == 1, "\(r.err)")
        #expect(r.err.hasPrefix("mld: error: "), "\(r.err)")
        #expect(!FileManager.default.fileExists(atPath: "x.xyz"))
    }

    @Test(.enabled(if: pythonHasASE || aseRequired, "python3 cannot import ase"))
    func aseReadsTheBox() throws {
        try #require(pythonHasASE, "MLD_REQUIRE_ASE=1 but python3 cannot import ase (pip install ase)")
        let dir = try temporaryFolder("ase")
        defer { try? FileManager.default.removeItem(at: dir) }
        let out = dir.appendingPathComponent("box.xyz").path
        let r = try runMLD(["box", "--molecules", "128", "--out", out])
        #expect(r.status == 0, "\(r.err)")
        let p = Process()
        p.executableURL = URL(fileURLWithPath: "/usr/bin/env")
        p.arguments = ["python3", "-c", """
            import ase.io, sys
            a = ase.io.read(sys.argv[1])
            print(len(a), a.get_chemical_formula(), round(a.cell[0][0], 6), a.pbc.all(), a.get_velocities() is not None)
            """, out]
        let pipe = Pipe()
        p.standardOutput = pipe
        try p.run()
        let text = String(decoding: pipe.fileHandleForReading.readDataToEndOfFile(), as: UTF8.self)
        p.waitUntilExit()
        #expect(p.terminationStatus == 0)
        let c = try ExtendedXYZ.read(out)[0]
        #expect(text.trimmingCharacters(in: .whitespacesAndNewlines)
                == "384 H256O128 \(String(format: "%.6f", c.box.lengths.x).replacingOccurrences(of: #"0+$"#, with: "", options: .regularExpression)) True True")
    }
}
