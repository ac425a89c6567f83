import ArgumentParser
import MLD

/// `--backend auto|cpu|opencl`.
enum BackendChoice: String, ExpressibleByArgument, CaseIterable {
    case auto, cpu, opencl
}

/// The force backend for `model` on atoms of model-order `species` in `box`. Returns the backend
/// and, when `auto` fell back to another than asked, a one-line note saying so.
///
/// `cpu`: the CPU backend. `opencl`: the OpenCL backend on `opencl.device` (default: the first
/// GPU, else the first device) or a clean error. `auto`: OpenCL when a GPU exists (or a device
/// was named), else the CPU; an OpenCL backend that fails to start falls back to the CPU. The
/// note says which was chosen and why.
func makeBackend(_ choice: BackendChoice, model: LearnedModel, species: [Int], box: Box,
                 opencl: OpenCLOptions? = nil) throws -> (backend: any ForceBackend, note: String?) {
    let options = try opencl ?? OpenCLOptions.parse([])
    switch choice {
    case .cpu:
        return (try CPUBackend(model: model, species: species, box: box, precision: options.cpuPrecision), nil)
    case .opencl:
        return (try makeOpenCLBackend(model: model, species: species, box: box, options: options), nil)
    case .auto:
        let (prefer, why) = autoPrefersOpenCL(options)
        if prefer {
            do {
                let b = try makeOpenCLBackend(model: model, species: species, box: box, options: options)
                return (b, "backend auto: opencl on \(b.deviceName), because \(why)")
            } catch {
                return (try CPUBackend(model: model, species: species, box: box, precision: options.cpuPrecision),
                        "backend auto: the OpenCL backend failed (\(error)); using the cpu backend")
            }
        }
        return (try CPUBackend(model: model, species: species, box: box, precision: options.cpuPrecision), "backend auto: cpu, because \(why)")
    }
}
