import Foundation
import Testing
@testable import MLD
@testable import mld

/// Inputs the fuzzer found that crashed mld (a trap or an allocation failure), each replayed
/// through the target that found it: every one now ends in a result or one clear line.
@Suite struct FuzzRegressionTests {
    /// Runs `input` through the target named `name`; returns the error line, nil for a result.
    func replay(_ name: String, _ input: [UInt8]) throws -> String? {
        let targets = try FuzzTests.targets()
        let target = try #require(targets.first { $0.name == name })
        let dir = try FuzzSeeds.scratchDirectory("regression")
        defer { try? FileManager.default.removeItem(atPath: dir) }
        do {
            try target.consume(input, dir)
            return nil
        } catch {
            let line = target.errorLine(error)
            #expect(FuzzHarness.problem(with: error, line: line) == nil, "\(error)")
            return line
        }
    }

    /// The seed of `name` with `old` replaced by `new` (the first occurrence).
    func edited(_ name: String, _ old: String, _ new: String) throws -> [UInt8] {
        let target = try #require(try FuzzTests.targets().first { $0.name == name })
        let text = String(decoding: target.seeds[0], as: UTF8.self)
        let r = try #require(text.range(of: old), "'\(old)' not in the seed of \(name)")
        return Array(text.replacingCharacters(in: r, with: new).utf8)
    }

    /// `Int(Double)` trapped on a step of `nan`, `1e30` or `9.5` in the .ener file.
    @Test(arguments: ["nan", "1e30", "9.5", "-9223372036854775809"])
    func enerStepThatIsNotAnInteger(step: String) throws {
        let seed = String(decoding: try FuzzSeeds.ener(), as: UTF8.self)
        let firstRow = try #require(seed.split(separator: "\n").dropFirst().first)
        let step0 = String(firstRow.split(separator: " ")[0])
        let line = try replay("cp2k-ener", try edited("cp2k-ener", "\n" + firstRow.prefix(while: { $0 == " " }) + step0 + " ",
                                                     "\n" + firstRow.prefix(while: { $0 == " " }) + step + " "))
        #expect(line?.contains("column 1 (the step) is not an integer") == true, "\(line ?? "read")")
    }

    /// A NaN temperature reached `mld info --json` (a JSON encoding error, not a reading error).
    @Test func enerNonFiniteValue() throws {
        let seed = String(decoding: try FuzzSeeds.ener(), as: UTF8.self)
        let row = try #require(seed.split(separator: "\n").dropFirst().first)
        let fields = row.split(separator: " ")
        let line = try replay("cp2k-ener", try edited("cp2k-ener", String(fields[3]), "nan"))
        #expect(line?.contains("is not a finite number") == true, "\(line ?? "read")")
    }

    /// A frame's atom count of 10^15 reserved that much memory before reading a line.
    @Test func hugeAtomCountAllocatesNothing() throws {
        let line = try replay("cp2k-pos", try edited("cp2k-pos", "       6", "1000000000000000"))
        // The next frames' lines are read as its atoms until one does not fit: one line.
        #expect(line?.contains("-pos-1.xyz:") == true, "\(line ?? "read")")
    }

    /// Steps near Int's limits overflowed the time step's step difference.
    @Test func stepsAtIntsLimitsGiveNoTimeStep() throws {
        var text = String(decoding: try FuzzSeeds.cp2kXYZ("pos"), as: UTF8.self)
        var k = 0
        for (old, new) in [("i =        0", "i = -9223372036854775808"), ("i =        1", "i = 9223372036854775807")] {
            let r = try #require(text.range(of: old), "\(old)")
            text.replaceSubrange(r, with: new)
            k += 1
        }
        #expect(k == 2)
        // The other files no longer match these steps: refused in one line, no trap.
        let line = try replay("cp2k-pos", Array(text.utf8))
        #expect(line != nil)
        // The time step itself, from frames alone.
        let a = Configuration(atoms: [.oxygen], positions: [.zero], box: Box(cubic: 5), step: Int.min, time: 0)
        let b = Configuration(atoms: [.oxygen], positions: [.zero], box: Box(cubic: 5), step: Int.max, time: 1)
        let run = CP2KRun(directory: ".", project: "p", box: Box(cubic: 5), cellSource: "-", frames: [a, b], energies: [], files: [])
        #expect(run.timeStep == nil || run.timeStep!.isFinite)
    }

    /// `time = nan` in a CP2K comment line.
    @Test func nonFiniteFrameTime() throws {
        let text = String(decoding: try FuzzSeeds.cp2kXYZ("pos"), as: UTF8.self)
        let r = try #require(text.range(of: "time =        0.000"))
        let line = try replay("cp2k-pos", Array(text.replacingCharacters(in: r, with: "time = nan").utf8))
        #expect(line?.contains("is not a finite number of fs") == true, "\(line ?? "read")")
    }

    /// Neighbour counts whose sum overflows Int trapped in the model's validation.
    @Test func modelCountsThatOverflow() throws {
        let target = try #require(try FuzzTests.targets().first { $0.name == "model" })
        var o = try #require(try JSONSerialization.jsonObject(with: Data(target.seeds[0])) as? [String: Any])
        var inv = try #require(o["invariants"] as? [String: Any])
        var blocks = try #require(inv["blocks"] as? [[String: Any]])
        blocks[0]["counts"] = [Int.max, 2]
        inv["blocks"] = blocks; o["invariants"] = inv
        let line = try replay("model", [UInt8](try JSONSerialization.data(withJSONObject: o)))
        #expect(line?.contains("neighbours (at most 256 invariants per agent)") == true, "\(line ?? "read")")
    }

    /// A checkpoint with a sound checksum but a NaN or huge position trapped in the neighbour
    /// list's cell index when the resumed simulation computed its forces.
    @Test(arguments: [Double.nan, .infinity, -1e308])
    func checkpointWithANonFinitePosition(x: Double) throws {
        let target = try #require(try FuzzTests.targets().first { $0.name == "checkpoint-resealed" })
        var bytes = target.seeds[0]
        let n = FuzzSeeds.argonCrystal().count
        let at = bytes.count - 72 * n          // positions, velocities, forces: 24 bytes per atom each
        withUnsafeBytes(of: x.bitPattern.littleEndian) { for k in 0..<8 { bytes[at + k] = $0[k] } }
        let line = try replay("checkpoint-resealed", bytes)
        if x.isFinite {
            #expect(line == nil || !line!.isEmpty)
        } else {
            #expect(line?.contains("not a finite number") == true, "\(line ?? "read")")
        }
    }
}
