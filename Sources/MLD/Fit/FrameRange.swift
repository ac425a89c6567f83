/// A half-open range of frame indices with an optional stride: `a..b` means frames a, a+1, ...,
/// b-1 (b excluded, as Swift's `a..<b`), `a..b:s` every s-th of them starting at a. Indices
/// count the frames of a data set from 0 (not CP2K step numbers); `a..` runs to the last frame.
public struct FrameRange: Sendable, Equatable, CustomStringConvertible {
    /// First frame, included.
    public var lower: Int
    /// End, excluded; nil means the end of the data.
    public var upper: Int?
    /// Take every `stride`-th frame.
    public var stride: Int

    public init(_ lower: Int, _ upper: Int?, stride: Int = 1) {
        self.lower = lower; self.upper = upper; self.stride = stride
    }

    /// Parses `a..b`, `a..b:s`, `a..` or `a..:s`; nil with a reason via `parse(_:)`.
    public init?(_ text: String) {
        guard let r = try? FrameRange.parse(text) else { return nil }
        self = r
    }

    /// Parses `a..b[:s]`, throwing `MLDError.usage` with the reason.
    public static func parse(_ text: String) throws -> FrameRange {
        func bad(_ why: String) -> MLDError {
            .usage("bad frame range '\(text)': \(why) (expected a..b, half-open: frames a to b-1, optionally :stride, e.g. 0..720 or 0..720:3)")
        }
        var body = Substring(text)
        var stride = 1
        if let colon = body.firstIndex(of: ":") {
            guard let s = Int(body[body.index(after: colon)...]) else { throw bad("stride is not an integer") }
            guard s >= 1 else { throw bad("stride must be at least 1") }
            stride = s
            body = body[..<colon]
        }
        guard let dots = body.range(of: "..") else { throw bad("no '..'") }
        guard let a = Int(body[..<dots.lowerBound]) else { throw bad("start is not an integer") }
        let rest = body[dots.upperBound...]
        let b: Int? = rest.isEmpty ? nil : Int(rest)
        if !rest.isEmpty && b == nil { throw bad("end is not an integer") }
        guard a >= 0 else { throw bad("start is negative") }
        if let b, b <= a { throw bad("end \(b) is not after start \(a), the range is empty") }
        return FrameRange(a, b, stride: stride)
    }

    /// The frame indices, checked against `frameCount` (`MLDError.usage` if out of bounds).
    public func indices(frameCount: Int, what: String = "frames") throws -> [Int] {
        let end = upper ?? frameCount
        guard lower < frameCount else {
            throw MLDError.usage("\(what) \(description): start \(lower) is beyond the last frame (the data has \(frameCount) frames, 0..\(frameCount))")
        }
        guard end <= frameCount else {
            throw MLDError.usage("\(what) \(description): end \(end) is beyond the data's \(frameCount) frames (0..\(frameCount))")
        }
        return Array(Swift.stride(from: lower, to: end, by: stride))
    }

    public var description: String {
        "\(lower)..\(upper.map(String.init) ?? "")" + (stride == 1 ? "" : ":\(stride)")
    }
}
