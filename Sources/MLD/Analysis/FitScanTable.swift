/// The CSV that `mld fit --scan` writes: the first column is named after the scanned
/// parameter (a cutoff, a basis size, ...), then for each species `train_rel_rmse_<El>` and
/// `test_rel_rmse_<El>` (relative RMSE of the forces, dimensionless).
public struct FitScanTable: Sendable {
    /// Name of the scanned parameter (the first column's header).
    public var parameter: String
    /// The scanned values as written (numbers or labels).
    public var values: [String]
    /// Elements in column order.
    public var elements: [String]
    /// `train[e][row]`, `test[e][row]`: relative force RMSE of element `elements[e]`.
    public var train: [[Double]], test: [[Double]]
    /// The file's text, unchanged.
    public var text: String

    /// True when every scanned value is a number (plotted on a numeric axis, else as labels).
    public var numericParameter: Bool { values.allSatisfy { Double($0) != nil } }

    public init(path: String) throws {
        let lines = try TextFile.lines(path)
        text = lines.joined(separator: "\n")
        guard let header = lines.first, !header.trimmingCharacters(in: .whitespaces).isEmpty else {
            throw MLDError.input(file: path, line: 1, problem: "empty scan file, expected a header")
        }
        let names = header.split(separator: ",", omittingEmptySubsequences: false)
            .map { $0.trimmingCharacters(in: .whitespaces) }
        guard names.count >= 3, names.count % 2 == 1 else {
            throw MLDError.input(file: path, line: 1, problem: "expected PARAMETER then train_rel_rmse_<El>,test_rel_rmse_<El> per species; found '\(header.prefix(120))'")
        }
        parameter = names[0]
        var elements: [String] = []
        for k in stride(from: 1, to: names.count, by: 2) {
            let tr = names[k], te = names[k + 1]
            guard tr.hasPrefix("train_rel_rmse_"), te.hasPrefix("test_rel_rmse_"),
                  tr.dropFirst("train_rel_rmse_".count) == te.dropFirst("test_rel_rmse_".count) else {
                throw MLDError.input(file: path, line: 1, problem: "columns \(k + 1)-\(k + 2) must be train_rel_rmse_<El>,test_rel_rmse_<El>; found \(tr),\(te)")
            }
            elements.append(String(tr.dropFirst("train_rel_rmse_".count)))
        }
        self.elements = elements
        var values: [String] = []
        var train = [[Double]](repeating: [], count: elements.count), test = train
        for (i, line) in lines.enumerated().dropFirst() {
            if line.trimmingCharacters(in: .whitespaces).isEmpty { continue }
            let f = line.split(separator: ",", omittingEmptySubsequences: false)
                .map { $0.trimmingCharacters(in: .whitespaces) }
            guard f.count == names.count else {
                throw MLDError.input(file: path, line: i + 1, problem: "expected \(names.count) columns, found \(f.count)")
            }
            values.append(f[0])
            for e in elements.indices {
                guard let a = Double(f[1 + 2 * e]), let b = Double(f[2 + 2 * e]) else {
                    throw MLDError.input(file: path, line: i + 1, problem: "rel_rmse of \(elements[e]) is not a number")
                }
                train[e].append(a); test[e].append(b)
            }
        }
        guard !values.isEmpty else {
            throw MLDError.input(file: path, line: nil, problem: "no rows after the header")
        }
        self.values = values
        self.train = train
        self.test = test
    }
}
