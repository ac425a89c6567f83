import Foundation
import Testing
@testable import MLD

/// Path of the bundled CP2K data set, found from this file's location.
let bundledData: String = {
    var url = URL(fileURLWithPath: #filePath)
    for _ in 0..<3 { url.deleteLastPathComponent() }
    return url.appendingPathComponent("Data/cp2k-water64-xtb-300K").path
}()

@Suite struct CP2KReaderTests {
    @Test func readsTheBundledRun() throws {
        let run = try CP2KReader.read(directory: bundledData)
        #expect(run.atomCount == 192)
        #expect(run.frames.count == 900)
        #expect(run.steps.first == 0 && run.steps.last == 899)
        #expect(run.elements.map(\.symbol) == ["O", "H"])
        #expect(run.frames[0].speciesCounts == [64, 128])
        #expect(abs(run.box.lengths.x - 12.4138) < 1e-12)
        #expect(abs(run.timeStep! - 0.5) < 1e-12)
        // First force line of step 0: O 0.0003199424 0.0137557640 0.0111031865 Ha/Bohr;
        // 0.0137557640 Ha/Bohr = 0.70735 eV/Å.
        let f = run.frames[0].forces![0]
        #expect(abs(f.y - 0.0137557640 * Units.hartreePerBohr) < 1e-12)
        #expect(abs(f.x - 0.0003199424 * Units.hartreePerBohr) < 1e-12)
        #expect(abs(f.y - 0.707350) < 1e-6)
        // First velocity: -0.0001477078 Bohr/a.u.t.
        #expect(abs(run.frames[0].velocities![0].x - (-0.0001477078 * 21.876912636)) < 1e-12)
        #expect(run.energies.count == 900)
    }
}
