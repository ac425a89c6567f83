import ArgumentParser
import MLD

/// `--backend auto|cpu|opencl`.
enum BackendChoice: String, ExpressibleByArgument, CaseIterable {
    case auto, cpu, opencl
}

/// The force backend for `model` on atoms of model-order `species` in `box`. Returns the backend
/// and, when `auto` fell back to another than asked, a one-line note saying so.
func makeBackend(_ choice: BackendChoice, model: LearnedModel, species: [Int], box: Box) throws
    -> (backend: any ForceBackend, note: String?) {
    switch choice {
    case .cpu, .auto:
        return (try CPUBackend(model: model, species: species, box: box), nil)
    case .opencl:
        throw MLDError.backend("the OpenCL backend is not available in this build")
    }
}
