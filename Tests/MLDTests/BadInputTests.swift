import Foundation
import Testing
@testable import MLD

/// A small, valid CP2K run directory (2 waters, 3 steps) that each test then breaks in one way.
struct MiniCP2K {
    var atoms = ["O", "H", "H", "O", "H", "H"]
    var steps = [0, 1, 2]
    var cellSection = """
     &CELL
       A     6.0 0.0 0.0
       B     0.0 6.0 0.0
       C     0.0 0.0 6.0
     &END CELL
    """

    func frames(kind: String, steps: [Int]? = nil, atoms: [String]? = nil) -> String {
        var s = ""
        for st in steps ?? self.steps {
            let a = atoms ?? self.atoms
            s += "\(a.count)\n i = \(st), time = \(Double(st) * 0.5), E = -10.0\n"
            for (i, el) in a.enumerated() {
                let x = Double(i) * 0.9 + Double(st) * 0.01
                s += "  \(el) \(x) \(x + 0.1) \(x + 0.2)\n"
            }
        }
        return s
    }

    /// Writes the directory; `edit` can replace any file's text before it is written.
    func write(_ edit: (inout [String: String]) -> Void = { _ in }) throws -> String {
        let dir = try temporaryDirectory()
        var files: [String: String] = [
            "w-pos-1.xyz": frames(kind: "pos"),
            "w-frc-1.xyz": frames(kind: "frc"),
            "w-vel-1.xyz": frames(kind: "vel"),
            "w.restart": "&FORCE_EVAL\n &SUBSYS\n\(cellSection)\n &END SUBSYS\n&END FORCE_EVAL\n",
        ]
        edit(&files)
        for (name, text) in files {
            try text.write(toFile: (dir as NSString).appendingPathComponent(name), atomically: true, encoding: .utf8)
        }
        return dir
    }
}

/// The error of reading `dir`, as the one line a user sees.
func readError(_ dir: String, requireForces: Bool = true) -> String? {
    do { _ = try CP2KReader.read(directory: dir, requireForces: requireForces); return nil } catch {
        return "\(error)"
    }
}

@Suite struct BadInputTests {
    let mini = MiniCP2K()

    @Test func validMiniRunReads() throws {
        let run = try CP2KReader.read(directory: try mini.write())
        #expect(run.frames.count == 3 && run.atomCount == 6)
        #expect(run.box == Box(cubic: 6))
    }

    @Test func truncatedFrame() throws {
        let dir = try mini.write { f in
            var lines = f["w-pos-1.xyz"]!.split(separator: "\n", omittingEmptySubsequences: false)
            lines.removeLast(3)  // the last frame loses two atom lines (and the final newline)
            f["w-pos-1.xyz"] = lines.joined(separator: "\n")
        }
        let e = try #require(readError(dir))
        #expect(e.contains("w-pos-1.xyz:") && e.contains("truncated frame"), "\(e)")
    }

    @Test func nonNumericField() throws {
        let dir = try mini.write { f in
            f["w-frc-1.xyz"] = f["w-frc-1.xyz"]!.replacingOccurrences(of: "  H 0.9 1.0 1.1", with: "  H 0.9 abc 1.1")
        }
        let e = try #require(readError(dir))
        #expect(e.contains("w-frc-1.xyz:4:") && e.contains("not a number: 'abc'"), "\(e)")
    }

    @Test func atomCountDiffersBetweenFiles() throws {
        let dir = try mini.write { f in f["w-vel-1.xyz"] = mini.frames(kind: "vel", atoms: ["O", "H", "H"]) }
        let e = try #require(readError(dir))
        #expect(e.contains("w-vel-1.xyz:1:") && e.contains("3 atoms at step 0, but 6"), "\(e)")
    }

    @Test func missingForcesFile() throws {
        let dir = try mini.write { f in f["w-frc-1.xyz"] = nil }
        let e = try #require(readError(dir))
        #expect(e.contains("w-frc-1.xyz") && e.contains("missing forces file"), "\(e)")
        #expect(readError(dir, requireForces: false) == nil)
    }

    @Test func unknownElement() throws {
        let dir = try mini.write { f in
            f["w-pos-1.xyz"] = mini.frames(kind: "pos", atoms: ["O", "H", "H", "Xq", "H", "H"])
        }
        let e = try #require(readError(dir))
        #expect(e.contains("w-pos-1.xyz:6:") && e.contains("unknown element 'Xq'"), "\(e)")
    }

    @Test func stepMissingInOneFile() throws {
        let dir = try mini.write { f in f["w-frc-1.xyz"] = mini.frames(kind: "frc", steps: [0, 2]) }
        let e = try #require(readError(dir))
        #expect(e.contains("w-frc-1.xyz") && e.contains("step 1") && e.contains("missing"), "\(e)")
        let dir2 = try mini.write { f in f["w-vel-1.xyz"] = mini.frames(kind: "vel", steps: [0, 1, 2, 3]) }
        let e2 = try #require(readError(dir2))
        #expect(e2.contains("w-vel-1.xyz:") && e2.contains("step 3 is not in"), "\(e2)")
    }

    @Test func emptyDirectory() throws {
        let dir = try temporaryDirectory()
        let e = try #require(readError(dir))
        #expect(e.hasSuffix("empty directory"), "\(e)")
        let missing = dir + "/nope"
        #expect(readError(missing)?.contains("not a directory") == true)
    }

    @Test func cellNotFound() throws {
        let dir = try mini.write { f in f["w.restart"] = nil }
        let e = try #require(readError(dir))
        #expect(e.contains("cell not found") && e.contains("--cell"), "\(e)")
        // ... unless the user gives it.
        let run = try CP2KReader.read(directory: dir, cell: Box(cubic: 7))
        #expect(run.box == Box(cubic: 7) && run.cellSource == "--cell")
    }

    @Test func nonOrthorhombicCell() throws {
        var m = mini
        m.cellSection = " &CELL\n   A 6.0 0.0 0.0\n   B 1.0 6.0 0.0\n   C 0.0 0.0 6.0\n &END CELL"
        let e = try #require(readError(try m.write()))
        #expect(e.contains("w.restart:") && e.contains("non-orthorhombic"), "\(e)")
    }

    @Test func cellFileWinsOverRestart() throws {
        let dir = try mini.write { f in
            f["w-1.cell"] = "#   Step   Time [fs]  Ax Ay Az Bx By Bz Cx Cy Cz Volume\n 0 0.0 7.0 0 0 0 8.0 0 0 0 9.0 504.0\n"
        }
        #expect(try CP2KReader.read(directory: dir).box == Box(7, 8, 9))
    }

    @Test func badEnerFile() throws {
        let dir = try mini.write { f in f["w-1.ener"] = "# header\n 0 0.0 0.1 300.0 -1.0 -0.9\n" }
        let e = try #require(readError(dir))
        #expect(e.contains("w-1.ener:2:") && e.contains("expected 7 columns"), "\(e)")
    }

    @Test func corruptXZ() throws {
        let dir = try mini.write { f in f["w-pos-1.xyz"] = nil }
        try Data([0xFD, 0x37, 0x7A, 0x58, 0x5A, 0x00, 1, 2, 3]).write(to: URL(fileURLWithPath: dir + "/w-pos-1.xyz.xz"))
        let e = try #require(readError(dir))
        #expect(e.contains("w-pos-1.xyz.xz") && e.contains("xz data is corrupt"), "\(e)")
    }
}
