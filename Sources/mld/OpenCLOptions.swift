import ArgumentParser
import Foundation
import MLD
import MLDOpenCL

extension OpenCLPrecision: ExpressibleByArgument {}
extension CPUPrecision: ExpressibleByArgument {}

/// `--device N` and `--precision single|double` for the OpenCL backend, and `--cpu-precision
/// double|mixed` for the CPU backend, shared by the commands that take `--backend`.
struct OpenCLOptions: ParsableArguments {
    @Option(name: .long, help: "OpenCL device index as listed by `mld devices` (default: the first GPU, else the first device).")
    var device: Int?

    @Option(name: .long, help: "OpenCL precision: single (default; sums kept in double where the device has fp64) or double (needs fp64).")
    var precision: OpenCLPrecision = .single

    @Option(name: .customLong("cpu-precision"),
            help: "CPU backend arithmetic: double (default; the reference) or mixed (the angular sums' per-neighbour terms in single precision, eight neighbours a vector, every sum in double; forces within about 1e-6 relative of double). See docs/performance.md.")
    var cpuPrecision: CPUPrecision = .double
}

/// The OpenCL backend for `model` on atoms of model-order `species` in `box`.
func makeOpenCLBackend(model: LearnedModel, species: [Int], box: Box, options: OpenCLOptions) throws -> OpenCLBackend {
    try OpenCLBackend(model: try OpenCLModel(model), species: species, box: box, device: options.device,
                      precision: options.precision)
}

/// What `--backend auto` picks: OpenCL (true) when a GPU (or an explicit `--device`) is there,
/// else the CPU (false), with the reason in words.
func autoPrefersOpenCL(_ options: OpenCLOptions) -> (Bool, String) {
    let devices = OpenCLDeviceInfo.all()
    if let d = options.device {
        return devices.indices.contains(d) ? (true, "device \(d) asked for") : (false, "no OpenCL device \(d)")
    }
    if let gpu = devices.first(where: { $0.type == "GPU" }) { return (true, "GPU \(gpu.name) found") }
    if devices.isEmpty { return (false, "no OpenCL platform or device found") }
    return (false, "no OpenCL GPU found, only \(devices.map(\.name).joined(separator: ", ")): use --backend opencl to run there")
}
