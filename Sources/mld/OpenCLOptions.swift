import ArgumentParser
import Foundation
import MLD
import MLDOpenCL

extension OpenCLPrecision: ExpressibleByArgument {}

/// `--device N` and `--precision single|double`, shared by the commands that take `--backend`.
struct OpenCLOptions: ParsableArguments {
    @Option(name: .long, help: "OpenCL device index as listed by `mld devices` (default: the first GPU, else the first device).")
    var device: Int?

    @Option(name: .long, help: "OpenCL precision: single (default; sums kept in double where the device has fp64) or double (needs fp64).")
    var precision: OpenCLPrecision = .single
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
