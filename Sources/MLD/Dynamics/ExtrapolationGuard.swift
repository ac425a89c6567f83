import Foundation

/// Watches a run for agents outside the model's training range, at every output step.
///
/// `check` returns the fraction of such agents (thermo.csv's `out_of_range` column). With
/// `.warn` it calls `warn` once, the first time the fraction exceeds `threshold`; with `.stop`
/// it throws `MLDError.numerical` naming the step, the atom and the invariant as soon as any
/// agent leaves the range.
public final class ExtrapolationGuard {
    /// What to do when agents leave the training range.
    public enum Mode: String, Sendable, CaseIterable, Codable {
        /// Report the fraction; warn once when it first exceeds the threshold.
        case warn
        /// Stop the run at the first output step with an agent outside the range.
        case stop
    }

    public let model: LearnedModel
    public let mode: Mode
    /// Fraction of agents (0-1) above which `.warn` warns.
    public let threshold: Double
    /// The last fraction measured.
    public private(set) var lastFraction = 0.0
    /// Whether the warning was given.
    public private(set) var warned = false
    let warn: (String) -> Void
    private var checked: (step: Int, positions: [SIMD3<Double>])?

    /// The default warning threshold: 5 % of the agents.
    public static let defaultThreshold = 0.05

    public init(model: LearnedModel, mode: Mode = .warn, threshold: Double = ExtrapolationGuard.defaultThreshold,
                warn: @escaping (String) -> Void = { FileHandle.standardError.write(Data("mld: warning: \($0)\n".utf8)) }) {
        self.model = model
        self.mode = mode
        self.threshold = threshold
        self.warn = warn
    }

    /// The fraction of agents of `c` outside the training range at `step`. `flags`, when given,
    /// say for every agent of `c` whether it is outside (the CPU backend finds them while it
    /// computes the forces); then only the first such agent is evaluated again, for the message.
    public func check(_ c: Configuration, step: Int, flags: [Bool]? = nil) throws -> Double {
        if let last = checked, last.step == step, last.positions == c.positions { return lastFraction }
        let e = try flags.map { try model.extrapolation(c, outside: $0) } ?? model.extrapolation(c)
        checked = (step, c.positions)
        lastFraction = e.fraction
        if mode == .stop, let who = e.offender {
            throw MLDError.numerical("step \(step): \(who); stopped (--extrapolation stop)")
        }
        if mode == .warn && !warned && e.fraction > threshold {
            warned = true
            warn(String(format: "step %d: %.1f %% of the agents have invariants outside the training range (more than %.0f %%), e.g. %@; the model extrapolates",
                        step, 100 * e.fraction, 100 * threshold, e.offender ?? "?"))
        }
        return e.fraction
    }
}
