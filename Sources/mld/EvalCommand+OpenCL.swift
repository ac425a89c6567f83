import Foundation
import MLD
import MLDOpenCL

/// Force errors per species (model order) of `model` on `frames`, with forces from the OpenCL
/// backend and the invariants' training-range check on the invariants the device computed.
func measureOnOpenCL(_ model: LearnedModel, frames: [Configuration], options: OpenCLOptions, file: String)
    throws -> (errors: [ForceErrorAccumulator], device: String) {
    guard let first = frames.first else { return (model.species.map { _ in ForceErrorAccumulator(invariants: model.invariantCount) }, "") }
    try model.check(elements: first.elements, box: first.box, file: file)
    let species = try model.speciesIndices(elements: first.elements, species: first.species, file: file).map(Int.init)
    let backend = try makeOpenCLBackend(model: model, species: species, box: first.box, options: options)
    let p = model.invariantCount
    var acc = model.species.map { _ in ForceErrorAccumulator(invariants: p) }
    var forces: [SIMD3<Double>] = []
    var losses: [Double]? = nil
    for (f, c) in frames.enumerated() {
        guard let ref = c.forces else {
            throw MLDError.input(file: file, line: nil, problem: "frame \(f) has no reference forces")
        }
        try backend.computeForces(positions: c.positions, forces: &forces, losses: &losses)
        let phi = try backend.invariants()
        phi.withUnsafeBufferPointer { ph in
            for k in 0..<c.count {
                let s = species[k]
                let outside = excludesBeyondRounding(model.ranges[s], UnsafeBufferPointer(rebasing: ph[(k * p)..<((k + 1) * p)]))
                acc[s].add(predicted: forces[k], reference: ref[k], outside: outside)
            }
        }
    }
    return (acc, backend.deviceName)
}

/// Whether `phi` lies outside the training range by more than rounding: the device sums in
/// another order (and with other exp/cos) than the CPU, so the training set's own extreme agents,
/// which lie exactly on the range, would otherwise flip to "outside" by one ulp.
/// Slack: 1e-9 relative to max(|bound|, 1).
private func excludesBeyondRounding(_ r: InvariantRange, _ phi: UnsafeBufferPointer<Double>) -> Bool {
    for a in 0..<r.min.count {
        let lo = r.min[a], hi = r.max[a]
        if phi[a] < lo - 1e-9 * max(abs(lo), 1) || phi[a] > hi + 1e-9 * max(abs(hi), 1) { return true }
    }
    return false
}
