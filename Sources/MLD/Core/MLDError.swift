/// Everything that can go wrong in mld and that a user must be told about, with what they need
/// to fix it. `description` is the one line the command prints before exiting non-zero.
public enum MLDError: Error, CustomStringConvertible, Equatable {
    /// A bad input file: which file, which line (1-based, if one applies), what was wrong.
    case input(file: String, line: Int?, problem: String)
    /// A bad model file.
    case model(file: String, problem: String)
    /// A bad combination of options or arguments.
    case usage(String)
    /// A compute backend could not do its job (device missing, kernel build failed, ...).
    case backend(String)
    /// A simulation stopped because it became unphysical (NaN force, exploding atom, ...).
    case simulation(step: Int, problem: String)
    /// A numerical routine failed (singular system, LAPACK error, ...).
    case numerical(String)
    /// An output could not be written.
    case output(file: String, problem: String)

    public var description: String {
        switch self {
        case let .input(file, line, problem):
            if let line { return "\(file):\(line): \(problem)" }
            return "\(file): \(problem)"
        case let .model(file, problem): return "\(file): \(problem)"
        case let .usage(s): return s
        case let .backend(s): return s
        case let .simulation(step, problem): return "step \(step): \(problem)"
        case let .numerical(s): return s
        case let .output(file, problem): return "\(file): \(problem)"
        }
    }
}
