import CLAPACK
import Foundation

/// Solves ridge-regularised normal equations (G + lambda D) x = c with LAPACK, where G = A^T A
/// is symmetric positive semi-definite and D = diag(G) (column scaling).
///
/// The columns are scaled to unit norm first (G'_ij = G_ij / sqrt(G_ii G_jj)), so `lambda` is
/// dimensionless and relative to the unit diagonal. The scaled matrix is diagonalised once
/// (LAPACK `dsyevd`), after which every ridge strength costs one O(m^2) product; eigenvalues
/// below `rankTolerance` times the largest are treated as zero (a pseudo-inverse: the
/// rank-revealing path), and `conditionNumber` tells how ill-conditioned the system is.
public struct RidgeSolver: Sendable {
    /// Number of unknowns.
    public let m: Int
    /// Column scale factors 1/sqrt(G_ii) (1 for all-zero columns).
    private let scale: [Double]
    /// Eigenvalues (ascending) and eigenvectors (column j of the row-major m x m matrix) of G'.
    private let values: [Double]
    private let vectors: [Double]
    /// Relative eigenvalue threshold of the pseudo-inverse.
    public static let rankTolerance = 1e-14

    /// Diagonalises the scaled `G` (row-major, symmetric; only the upper triangle is read).
    public init(G: [Double], m: Int) throws {
        self.m = m
        var s = [Double](repeating: 1, count: m)
        for i in 0..<m where G[i * m + i] > 0 { s[i] = 1 / G[i * m + i].squareRoot() }
        var a = [Double](repeating: 0, count: m * m)
        for i in 0..<m { for j in i..<m { a[i * m + j] = G[i * m + j] * s[i] * s[j] } }
        var w = [Double](repeating: 0, count: m)
        let info = LAPACKE_dsyevd(LAPACK_ROW_MAJOR, Int8(UInt8(ascii: "V")), Int8(UInt8(ascii: "U")),
                                  Int32(m), &a, Int32(m), &w)
        if info != 0 { throw MLDError.numerical("LAPACK dsyevd failed (info \(info)) on the \(m) x \(m) normal matrix") }
        scale = s
        values = w
        vectors = a
    }

    /// Largest over smallest eigenvalue of the scaled normal matrix plus `lambda` (infinite if
    /// singular).
    public func conditionNumber(lambda: Double = 0) -> Double {
        guard let hi = values.last, let lo = values.first else { return 1 }
        let l = max(lo, 0) + lambda
        return l > 0 ? (hi + lambda) / l : .infinity
    }

    /// Number of eigenvalues kept by the pseudo-inverse at ridge 0.
    public var rank: Int {
        let cut = Self.rankTolerance * (values.last ?? 0)
        return values.filter { $0 > cut }.count
    }

    /// x solving (G + lambda diag(G)) x = c in the scaled sense above.
    public func solve(_ c: [Double], lambda: Double) -> [Double] {
        let cut = Self.rankTolerance * (values.last ?? 0)
        // y = V diag(1/(e + lambda)) V^T (s * c); x = s * y.
        let sc = (0..<m).map { c[$0] * scale[$0] }
        var t = [Double](repeating: 0, count: m)
        vectors.withUnsafeBufferPointer { v in
            sc.withUnsafeBufferPointer { scp in
                t.withUnsafeMutableBufferPointer { tp in
                    cblas_dgemv(CblasRowMajor, CblasTrans, Int32(m), Int32(m), 1, v.baseAddress, Int32(m),
                                scp.baseAddress, 1, 0, tp.baseAddress, 1)
                }
            }
        }
        for j in 0..<m {
            let e = values[j] + lambda
            t[j] = (values[j] > cut && e > 0) ? t[j] / e : 0
        }
        var y = [Double](repeating: 0, count: m)
        vectors.withUnsafeBufferPointer { v in
            t.withUnsafeBufferPointer { tp in
                y.withUnsafeMutableBufferPointer { yp in
                    cblas_dgemv(CblasRowMajor, CblasNoTrans, Int32(m), Int32(m), 1, v.baseAddress, Int32(m),
                                tp.baseAddress, 1, 0, yp.baseAddress, 1)
                }
            }
        }
        return (0..<m).map { y[$0] * scale[$0] }
    }

    /// One-off solve of (G' + lambda I) y = c' by Cholesky (LAPACK `dposv`) with the same column
    /// scaling, falling back to the eigen path when lambda is 0 or G' + lambda I is not
    /// positive definite. Used for the many small refits of the sensitivity table.
    public static func choleskySolve(G: [Double], c: [Double], m: Int, lambda: Double) throws -> [Double] {
        if lambda > 0 {
            var s = [Double](repeating: 1, count: m)
            for i in 0..<m where G[i * m + i] > 0 { s[i] = 1 / G[i * m + i].squareRoot() }
            var a = [Double](repeating: 0, count: m * m)
            for i in 0..<m {
                for j in i..<m { a[i * m + j] = G[i * m + j] * s[i] * s[j] }
                a[i * m + i] += lambda
            }
            var b = (0..<m).map { c[$0] * s[$0] }
            let info = LAPACKE_dposv(LAPACK_ROW_MAJOR, Int8(UInt8(ascii: "U")), Int32(m), 1,
                                     &a, Int32(m), &b, 1)
            if info == 0 { return (0..<m).map { b[$0] * s[$0] } }
        }
        return try RidgeSolver(G: G, m: m).solve(c, lambda: lambda)
    }
}

/// The normal equations of one linear least-squares problem A x ~ b, accumulated a block of
/// rows at a time with BLAS (`dsyrk`, `dgemv`): G = A^T A (upper triangle until `symmetrise`),
/// c = A^T b, bb = b^T b.
public struct NormalEquations: Sendable {
    public let m: Int
    public var G: [Double]
    public var c: [Double]
    public var bb: Double = 0
    public var rows: Int = 0

    public init(m: Int) {
        self.m = m
        G = [Double](repeating: 0, count: m * m)
        c = [Double](repeating: 0, count: m)
    }

    /// Adds `n` rows of A (row-major, n x m) and their targets b.
    public mutating func add(rows a: UnsafePointer<Double>, targets b: UnsafePointer<Double>, count n: Int) {
        guard n > 0 else { return }
        let m = self.m
        G.withUnsafeMutableBufferPointer { g in
            cblas_dsyrk(CblasRowMajor, CblasUpper, CblasTrans, Int32(m), Int32(n), 1, a, Int32(m), 1, g.baseAddress, Int32(m))
        }
        c.withUnsafeMutableBufferPointer { cp in
            cblas_dgemv(CblasRowMajor, CblasTrans, Int32(n), Int32(m), 1, a, Int32(m), b, 1, 1, cp.baseAddress, 1)
        }
        for i in 0..<n { bb += b[i] * b[i] }
        rows += n
    }

    /// Adds another accumulator of the same size.
    public mutating func add(_ o: NormalEquations) {
        for i in 0..<G.count { G[i] += o.G[i] }
        for i in 0..<m { c[i] += o.c[i] }
        bb += o.bb
        rows += o.rows
    }

    /// Copies the upper triangle of G to the lower one.
    public mutating func symmetrise() {
        for i in 0..<m { for j in (i + 1)..<max(m, i + 1) { G[j * m + i] = G[i * m + j] } }
    }

    /// |A x - b|^2 = x^T G x - 2 x^T c + bb (G symmetrised).
    public func residual(_ x: [Double]) -> Double {
        var q = 0.0, l = 0.0
        for i in 0..<m {
            var s = 0.0
            for j in 0..<m { s += G[i * m + j] * x[j] }
            q += x[i] * s
            l += x[i] * c[i]
        }
        return max(q - 2 * l + bb, 0)
    }

    /// The sub-problem on the unknowns `keep` (G symmetrised).
    public func restricted(to keep: [Int]) -> NormalEquations {
        var r = NormalEquations(m: keep.count)
        for (i, a) in keep.enumerated() {
            r.c[i] = c[a]
            for (j, b) in keep.enumerated() { r.G[i * keep.count + j] = G[a * m + b] }
        }
        r.bb = bb
        r.rows = rows
        return r
    }
}
