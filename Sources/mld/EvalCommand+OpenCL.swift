import Foundation
import MLD
import MLDOpenCL

/// Force errors per species (model order) of `model` on `frames`, with forces from the OpenCL
/// backend and the invariants' training-range check on the invariants the device computed.
func measureOnOpenCL(_ model: LearnedModel, frames: [Configuration], options: OpenCLOptions, file: String)
    throws -> (errors: [ForceErrorAccumulator], device: String) {
    let p = model.invariantCount
    // Every frame holds the same atoms: the species of the first.
    let sp = try frames.first.map { try model.speciesIndices(elements: $0.elements, species: $0.species, file: file) } ?? []
    return try measureForces(model, frames: frames, file: file,
        backend: { try makeOpenCLBackend(model: model, species: $0, box: $1, options: options) },
        outside: { backend, c in
            let phi = try backend.invariants()
            return phi.withUnsafeBufferPointer { ph in
                (0..<c.count).map { k in
                    excludesBeyondRounding(model.ranges[Int(sp[k])], UnsafeBufferPointer(rebasing: ph[(k * p)..<((k + 1) * p)]))
                }
            }
        })
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
