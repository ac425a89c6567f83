// gradient.cl: the loss gradient g = w + W phi_k of every agent and its force.
//
// Mirrors: QuadraticLoss.lossAndForce (Sources/MLD/Loss/QuadraticLoss.swift), H_A(phi) = w.phi +
// 1/2 phi^T W phi, and the CPU backend's force F_k = -sum_a g_a dphi_a/dq_k (eV/Å), with
// dphi_a/dq_k = t'(r) (q_k - q_j)/r for `nearest` and sum_j g_m'(r) f_c + g_m f_c' times
// (q_k - q_j)/r for `radial`, plus the terms of the angular blocks (labelled_force and
// angular_force of angular.cl) when the model has them. Only the agent's own coordinates are
// differentiated.
//
// Arguments (one work-item per agent; work-item i handles agent k = order[i]):
//   pos, n, box, species, order      as in neighbors.cl (pos_t, Å)
//   phi      acc[P*n]   invariants from invariants.cl and angular.cl, SLOT layout (common.cl)
//   sel      int[PD*n]  (nearest) the atom behind each distance invariant, SLOT stride PD
//   nbr, nbr_count, capacity         the neighbour list (radial; nearest: used by the angular
//                                    sums only)
//   w        acc[S*P]   linear coefficients per agent species, eV per invariant unit
//   W        acc[S*P*P] symmetric quadratic coefficients, row-major per species (both W_SPACE:
//                       __constant, or __global when they exceed the device's constant memory)
//   forces   acc4[n]    output, indexed by atom k, {Fx, Fy, Fz, 0} in eV/Å
//   losses   acc[n]     output, H_A(phi_k) in eV, indexed by atom k
// Precision: nearest: the P selected displacements in `acc` precision (min_image_acc); radial:
// every neighbour's displacement, basis function and cutoff in `acc`, as invariants.cl forms
// them (the list search itself stays in `real`). g, the loss
// and the force sum are accumulated in `acc` (double when the device has fp64, else float with
// Kahan compensation), because g = w + W phi cancels strongly for a fitted quadratic loss.

#if defined(MLD_NEAREST) || defined(MLD_RADIAL)
// g = w + W phi for agent species A; returns H_A(phi) = sum_a phi_a (w_a + g_a) / 2.
static inline acc loss_gradient(int A, const acc *ph, acc *g, W_SPACE acc *w, W_SPACE acc *W) {
    ksum h = { 0, 0 };
    for (int a = 0; a < MLD_P; a++) {
        W_SPACE acc *row = W + (A * MLD_P + a) * MLD_P;
        ksum s = { w[A * MLD_P + a], 0 };
        for (int b = 0; b < MLD_P; b++) kadd(&s, row[b] * ph[b]);
        g[a] = s.sum;
        kadd(&h, (acc)0.5 * ph[a] * (w[A * MLD_P + a] + s.sum));
    }
    return h.sum;
}
#endif

#ifdef MLD_NEAREST
__kernel void gradient_nearest(__global const pos_t *pos, const int n, const pos_t box,
                               __global const int *species, __global const int *order,
                               __global const acc *phi, __global const int *sel,
                               __global const int *nbr, __global const int *nbr_count, const int capacity,
                               W_SPACE acc *w, W_SPACE acc *W,
                               __global acc4 *forces, __global acc *losses) {
    int i = get_global_id(0);
    if (i >= n) return;
    int k = order[i];
    int A = species[k];
    acc ph[MLD_P], g[MLD_P];
    for (int a = 0; a < MLD_P; a++) ph[a] = phi[SLOT(a, i, n, MLD_P)];
    acc h = loss_gradient(A, ph, g, w, W);
    pos_t pk = pos[k];
    acc4 F = 0, C = 0;
    for (int a = 0; a < MLD_PD; a++) {
        int j = sel[SLOT(a, i, n, MLD_PD)];
        if (j == k) continue;
        acc4 d = min_image_acc(pk, pos[j], box);
        acc r = sqrt(dot(d, d));
        ACC4_ADD(F, C, (g[a] * nearest_dt(r) / r) * d);
    }
#ifdef MLD_LABELLED
    labelled_force(i, k, n, pk, pos, box, sel, g, &F, &C);
#endif
#ifdef MLD_ANGULAR
    angular_force(i, k, n, capacity, pk, pos, box, species, nbr, nbr_count, g, &F, &C);
#endif
    F.w = 0;
    forces[k] = F;
    losses[k] = h;
}
#endif

#ifdef MLD_RADIAL
__kernel void gradient_radial(__global const pos_t *pos, const int n, const pos_t box,
                              __global const int *species, __global const int *order,
                              __global const acc *phi, __global const int *nbr,
                              __global const int *nbr_count, const int capacity,
                              W_SPACE acc *w, W_SPACE acc *W,
                              __global acc4 *forces, __global acc *losses) {
    int i = get_global_id(0);
    if (i >= n) return;
    int k = order[i];
    int A = species[k];
    acc ph[MLD_P], g[MLD_P];
    for (int a = 0; a < MLD_P; a++) ph[a] = phi[SLOT(a, i, n, MLD_P)];
    acc h = loss_gradient(A, ph, g, w, W);
    pos_t pk = pos[k];
    const acc rc2 = (acc)MLD_CUTOFF * (acc)MLD_CUTOFF;
    acc4 F = 0, C = 0;
    int m = min(nbr_count[i], capacity);
    for (int s = 0; s < m; s++) {
        int j = nbr[SLOT(s, i, n, capacity)];
        acc4 d = min_image_acc(pk, pos[j], box);
        acc r2 = dot(d, d);
        if (r2 >= rc2 || j == k) continue;
        acc r = sqrt(r2), dfc, dg;
        acc fc = cutoff_value(r, &dfc);
        acc dphi[MLD_NBASIS];
#pragma unroll
        for (int b = 0; b < MLD_NBASIS; b++) {
            acc gb = basis_value(b, r, &dg);
            dphi[b] = dg * fc + gb * dfc;
        }
        // g of the neighbour's species block, every index a compile-time constant (no private
        // array indexed at run time, which a GPU would spill to local memory).
        int sj = species[j];
        acc sum = 0;
#pragma unroll
        for (int c = 0; c < MLD_NSPECIES; c++) {
            if (sj != c) continue;
#pragma unroll
            for (int b = 0; b < MLD_NBASIS; b++) sum += g[c * MLD_NBASIS + b] * dphi[b];
        }
        ACC4_ADD(F, C, (sum / r) * d);
    }
#ifdef MLD_ANGULAR
    angular_force(i, k, n, capacity, pk, pos, box, species, nbr, nbr_count, g, &F, &C);
#endif
    F.w = 0;
    forces[k] = F;
    losses[k] = h;
}
#endif
