import Foundation

/// A scan of one fit setting (`mld fit --scan name=spec`): one fit per value, with the train
/// and test rel_RMSE per species of each.
///
/// Names: `neighbours` (the same nearest count for every species), `neighbours-El` (one
/// species' count, e.g. `neighbours-O`), `cutoff` (radial cutoff, Å), `basis-size` (number of
/// Gaussians, or the largest inverse power from the basis's first), `form`, `ridge`,
/// `transform` (`distance,inverse`: t(r) of the nearest invariants).
/// Specs: `a:b` (integers a to b, both included), `a:b:step` (a, a+step, ... up to b
/// included), or a comma list `x,y,z` (the only spec for `form`).
public struct FitScan: Sendable {
    public var name: String
    public var values: [String]

    public static let names = ["neighbours", "neighbours-<El>", "cutoff", "basis-size", "form", "ridge", "transform"]

    public static func parse(_ text: String) throws -> FitScan {
        func bad(_ why: String) -> MLDError {
            .usage("bad --scan '\(text)': \(why) (expected name=a:b, name=a:b:step or name=x,y,z; names: \(names.joined(separator: ", ")))")
        }
        let parts = text.split(separator: "=", maxSplits: 1).map(String.init)
        guard parts.count == 2, !parts[1].isEmpty else { throw bad("no '='") }
        let name = parts[0], spec = parts[1]
        guard ["neighbours", "cutoff", "basis-size", "form", "ridge", "transform"].contains(name) || name.hasPrefix("neighbours-") else {
            throw bad("unknown name '\(name)'")
        }
        var values: [String]
        if spec.contains(":") {
            let f = spec.split(separator: ":", omittingEmptySubsequences: false).map { Double($0) }
            guard f.count == 2 || f.count == 3, f.allSatisfy({ $0 != nil }) else { throw bad("a, b and step must be numbers") }
            let a = f[0]!, b = f[1]!, step = f.count == 3 ? f[2]! : 1
            guard a.isFinite, b.isFinite, step.isFinite else { throw bad("a, b and step must be finite numbers") }
            guard step > 0 else { throw bad("step must be positive") }
            guard b >= a else { throw bad("b must not be below a") }
            // The count is checked as a Double: (b - a) / step can be far beyond Int's range.
            let count = ((b - a) / step + 1e-9).rounded(.down)
            guard count < 1000 else { throw bad("more than 1000 values") }
            let n = Int(count)
            values = (0...n).map { String(format: "%g", a + Double($0) * step) }
        } else {
            values = spec.split(separator: ",").map(String.init)
        }
        guard !values.isEmpty else { throw bad("no values") }
        let scan = FitScan(name: name, values: values)
        // Check every value now, against default settings.
        for v in values { _ = try scan.apply(v, to: FitSettings(), check: true) }
        return scan
    }

    /// `settings` with the scanned parameter set to `value`.
    public func apply(_ value: String, to settings: FitSettings, check: Bool = false) throws -> FitSettings {
        var s = settings
        func int() throws -> Int {
            guard let d = Double(value), d == d.rounded(), d >= 0, d < 1e15 else { throw MLDError.usage("--scan \(name): '\(value)' is not a whole number (0 to 10^15)") }
            return Int(d)
        }
        switch name {
        case "neighbours":
            let n = try int()
            if !check { for k in s.nearestCounts.keys { s.nearestCounts[k] = n } }
            s.family = .nearest
        case "cutoff":
            guard let r = Double(value), r > 0 else { throw MLDError.usage("--scan cutoff: '\(value)' is not a positive number") }
            s.cutoff = r
            if !check && s.family != .radial { throw MLDError.usage("--scan cutoff needs --invariants radial") }
        case "basis-size":
            let n = try int()
            guard n >= 1 else { throw MLDError.usage("--scan basis-size: needs at least 1") }
            switch s.basis {
            case .gaussian: s.basis = .gaussian(n)
            case let .inversePower(p):
                let a = p.first ?? 1
                s.basis = .inversePower((0..<n).map { a + Double($0) })
            }
            if !check && s.family != .radial { throw MLDError.usage("--scan basis-size needs --invariants radial") }
        case "form":
            guard let f = LossForm(rawValue: value) else { throw MLDError.usage("--scan form: '\(value)' is not full, diagonal or linear") }
            s.form = f
        case "transform":
            guard let t = DistanceTransform(rawValue: value) else { throw MLDError.usage("--scan transform: '\(value)' is not distance or inverse") }
            s.transform = t
            if !check && s.family != .nearest { throw MLDError.usage("--scan transform needs --invariants nearest") }
        case "ridge":
            guard let r = Double(value), r >= 0 else { throw MLDError.usage("--scan ridge: '\(value)' is not a number >= 0") }
            s.ridge = r
        default:
            let el = String(name.dropFirst("neighbours-".count))
            let n = try int()
            if !check {
                guard s.nearestCounts[el] != nil else { throw MLDError.usage("--scan \(name): no species \(el) in --nearest") }
            }
            s.nearestCounts[el] = n
            s.family = .nearest
        }
        return s
    }

    /// One fit per value; `progress` is told each result as it comes.
    public func run(run: CP2KRun, settings: FitSettings,
                    progress: (String, FitReport) -> Void = { _, _ in }) throws -> [(value: String, report: FitReport)] {
        var out: [(String, FitReport)] = []
        for v in values {
            var s = try apply(v, to: settings)
            s.sensitivity = false
            let r = try LossFitter.fit(run: run, settings: s).report
            progress(v, r)
            out.append((v, r))
        }
        return out
    }

    /// The CSV: header `name,train_rel_rmse_El,test_rel_rmse_El,...`, one line per value.
    public func csv(_ rows: [(value: String, report: FitReport)]) -> String {
        guard let first = rows.first else { return name + "\n" }
        let species = first.report.test.map(\.species)
        var s = ([name] + species.flatMap { ["train_rel_rmse_\($0)", "test_rel_rmse_\($0)"] }).joined(separator: ",") + "\n"
        for (v, r) in rows {
            var cols = [v]
            for (tr, te) in zip(r.train, r.test) { cols += [String(format: "%.6f", tr.relRMSE), String(format: "%.6f", te.relRMSE)] }
            s += cols.joined(separator: ",") + "\n"
        }
        return s
    }
}
