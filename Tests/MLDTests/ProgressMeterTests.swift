import Foundation
import Testing
@testable import MLD

/// The progress line of `mld run`.
@Suite struct ProgressMeterTests {
    final class Sink: @unchecked Sendable { var text = "" }

    @Test func plainLinesWhenNotATerminal() {
        let sink = Sink()
        let p = ProgressMeter(firstStep: 0, lastStep: 200, dt: 0.5, terminal: false, interval: 0) { sink.text += $0 }
        p.update(step: 50)
        p.finish(step: 200)
        let lines = sink.text.split(separator: "\n")
        #expect(lines.count == 1)
        #expect(!sink.text.contains("\r"))
        #expect(lines[0].contains("step 50/200"))
        #expect(lines[0].contains("25.0%"))
        #expect(lines[0].contains("0.025 ps"))
        #expect(lines[0].contains("steps/s") && lines[0].contains("ns/day") && lines[0].contains("left"))
    }

    @Test func liveLineOnATerminal() {
        let sink = Sink()
        let p = ProgressMeter(firstStep: 100, lastStep: 300, dt: 0.5, terminal: true, interval: 0) { sink.text += $0 }
        usleep(300_000)
        p.update(step: 200)
        p.finish(step: 300)
        #expect(sink.text.hasPrefix("\rstep 200/300   50.0%"))
        #expect(sink.text.hasSuffix("\n"))
        #expect(sink.text.contains("\rstep 300/300  100.0%"))
    }

    @Test func durations() {
        #expect(ProgressMeter.duration(42) == "42s")
        #expect(ProgressMeter.duration(125) == "2m05s")
        #expect(ProgressMeter.duration(7300) == "2h01m")
    }
}
