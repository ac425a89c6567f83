import Foundation
import MLD

/// The OpenCL kernel sources: embedded in the binary (EmbeddedKernels.swift, generated from
/// Kernels/ by `make kernels`), or read from the folder named by the environment variable
/// `MLD_KERNELS_DIR` while developing kernels.
public enum KernelSource {
    /// The kernel files in the order they are concatenated into one program.
    public static let files = ["common.cl", "neighbors.cl", "invariants.cl", "angular.cl", "gradient.cl", "conservative.cl", "integrate.cl"]

    /// The text of one kernel file.
    public static func text(_ file: String) throws -> String {
        if let dir = ProcessInfo.processInfo.environment["MLD_KERNELS_DIR"], !dir.isEmpty {
            let path = (dir as NSString).appendingPathComponent(file)
            guard let s = try? String(contentsOfFile: path, encoding: .utf8) else {
                throw MLDError.input(file: path, line: nil, problem: "cannot read kernel source (MLD_KERNELS_DIR is set)")
            }
            return s
        }
        guard let s = EmbeddedKernels.sources[file] else {
            throw MLDError.backend("kernel source \(file) is not embedded (run `make kernels`)")
        }
        return s
    }

    /// The whole program: every kernel file, in order.
    public static func program() throws -> String {
        try files.map { "// ---- \($0)\n" + (try text($0)) }.joined(separator: "\n")
    }

    /// The embedded text of every file, for the test that it matches Kernels/.
    public static var embedded: [String: String] { EmbeddedKernels.sources }
}

extension CLContext {
    /// Builds the mld program (every kernel file) for `precision` plus the model's `defines`
    /// ("MLD_P=14", ...). Double precision needs fp64; sums are kept in double whenever the
    /// device has fp64 (MLD_ACC_DOUBLE), in Kahan-compensated float otherwise.
    /// `accumulateInDouble: false` forces the float + Kahan path (tests of devices without fp64).
    /// Per-agent arrays are agent-major on CPU devices and slot-major elsewhere, unless
    /// `agentMajor` says otherwise (tests run both layouts on any device).
    func mldProgram(precision: OpenCLPrecision, defines: [String], accumulateInDouble: Bool? = nil,
                    agentMajor: Bool? = nil) throws -> CLProgram {
        if precision == .double && !device.info.fp64 {
            throw MLDError.backend("OpenCL device \(device.info.name) has no double precision (cl_khr_fp64); use --precision single")
        }
        var all: [String] = []
        if precision == .double { all.append("MLD_DOUBLE") }
        if accumulateInDouble ?? device.info.fp64 {
            if !device.info.fp64 { throw MLDError.backend("OpenCL device \(device.info.name) has no fp64 for double accumulation") }
            all.append("MLD_ACC_DOUBLE")
        }
        let major = agentMajor ?? (device.info.type == "CPU")
        if major { all.append("MLD_AGENT_MAJOR") }
        all += defines
        let options = all.map { "-D \($0)" }.joined(separator: " ")
        let p = try program(source: try KernelSource.program(), options: options)
        p.agentMajor = major
        return p
    }

    /// Whether sums are accumulated in double on this device.
    var accumulatesInDouble: Bool { device.info.fp64 }
}
