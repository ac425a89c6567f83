import Foundation
import MLD
import Testing
@testable import MLDOpenCL

/// The OpenCL wrapper: device selection, build errors with the compiler's log, error names.
@Suite(.enabled(if: openCLAvailable, "needs an OpenCL device (SKIPPED otherwise, see OpenCLAvailabilityTests)"))
struct CLRuntimeTests {
    @Test func deviceSelection() throws {
        let all = CLDevice.all()
        #expect(all.count == OpenCLDeviceInfo.all().count)
        let chosen = try CLDevice.select(index: nil)
        let firstGPU = all.first { $0.info.type == "GPU" }
        #expect(chosen.info.name == (firstGPU ?? all[0]).info.name)
        #expect(try CLDevice.select(index: all.count - 1).info.name == all[all.count - 1].info.name)
        #expect(throws: MLDError.backend("no OpenCL device \(all.count): \(all.count) device(s) found, numbered from 0 (see `mld devices`)")) {
            try CLDevice.select(index: all.count)
        }
    }

    /// A program that does not compile reports CL_BUILD_PROGRAM_FAILURE, the options and the
    /// compiler's own messages.
    @Test func buildFailureCarriesTheBuildLog() throws {
        let ctx = try CLContext(device: try CLDevice.select(index: nil))
        do {
            // MLD_NEAREST without MLD_NEAREST_COUNTS cannot compile.
            _ = try ctx.mldProgram(precision: .single, defines: ["MLD_NSPECIES=2", "MLD_P=14", "MLD_NEAREST"])
            Issue.record("the build should have failed")
        } catch let MLDError.backend(message) {
            #expect(message.contains("CL_BUILD_PROGRAM_FAILURE"))
            #expect(message.contains("-D MLD_NEAREST"))
            #expect(message.contains("MLD_NEAREST_COUNTS"), "the compiler's log names the missing define: \(message)")
        }
    }

    @Test func errorNames() {
        #expect(clErrorName(-5) == "CL_OUT_OF_RESOURCES")
        #expect(clErrorName(-11) == "CL_BUILD_PROGRAM_FAILURE")
        #expect(clErrorName(-9999) == "OpenCL error -9999")
    }

    @Test func doublePrecisionNeedsFP64() throws {
        let ctx = try CLContext(device: try CLDevice.select(index: nil))
        if ctx.device.info.fp64 {
            _ = try ctx.mldProgram(precision: .double, defines: [])
        } else {
            #expect(throws: (any Error).self) { try ctx.mldProgram(precision: .double, defines: []) }
        }
    }
}
