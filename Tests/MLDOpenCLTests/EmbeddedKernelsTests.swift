import Foundation
import Testing
@testable import MLDOpenCL

/// The kernel text compiled into the binary is exactly Kernels/*.cl (run `make kernels` after
/// editing a kernel).
@Suite struct EmbeddedKernelsTests {
    static let kernelsDir = URL(fileURLWithPath: #filePath)
        .deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent()
        .appendingPathComponent("Kernels")

    @Test func embeddedTextEqualsTheFilesOnDisk() throws {
        let files = try FileManager.default.contentsOfDirectory(atPath: Self.kernelsDir.path)
            .filter { $0.hasSuffix(".cl") }.sorted()
        #expect(files == KernelSource.embedded.keys.sorted())
        #expect(Set(KernelSource.files) == Set(files))
        for f in files {
            let disk = try String(contentsOf: Self.kernelsDir.appendingPathComponent(f), encoding: .utf8)
            #expect(KernelSource.embedded[f] == disk, "\(f) differs from its embedded copy: run `make kernels`")
        }
    }
}
