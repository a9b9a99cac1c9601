"""The linear-algebra kernels under the metrics: each device path gives the plain product, exactly symmetric."""
import pytest
import torch

from tlcore.metrics._linalg import _block_triangle_gram, eigh_projections, gram


@pytest.mark.parametrize("dtype", [torch.float32, torch.float64])
@pytest.mark.parametrize("shape", [(300, 40), (40, 300), (600, 600)])
@pytest.mark.parametrize("kernel", [gram, _block_triangle_gram], ids=["cpu_syrk", "other_devices"])
def test_gram_is_the_exactly_symmetric_product_of_either_side(kernel, shape, dtype):
    x = torch.randn(*shape, generator=torch.Generator().manual_seed(0), dtype=dtype)
    tolerance = 1e-4 if dtype == torch.float32 else 1e-10
    for of_rows, expected in ((False, x.T @ x), (True, x @ x.T)):
        product = kernel(x, of_rows=of_rows) if kernel is gram else kernel(x, of_rows)
        assert product.dtype == dtype and product.shape == expected.shape
        assert torch.equal(product, product.T)
        torch.testing.assert_close(product, expected, rtol=tolerance, atol=tolerance * shape[0])


def test_gram_reads_strided_and_grad_tracking_inputs():
    base = torch.randn(200, 30, dtype=torch.float64, requires_grad=True)
    view = base[:, ::3]  # not contiguous
    torch.testing.assert_close(gram(view), (view.T @ view).detach())


@pytest.mark.parametrize("size", [1, 2, 3, 50])
@pytest.mark.parametrize("rank_deficient", [False, True])
def test_eigh_projections_are_the_coordinates_of_the_columns_in_the_eigenbasis(size, rank_deficient):
    generator = torch.Generator().manual_seed(size)
    x = torch.randn(max(1, size // 2) if rank_deficient else 2 * size, size, generator=generator, dtype=torch.float64)
    matrix, rhs = gram(x), torch.randn(size, 4, generator=generator, dtype=torch.float64)
    values, projections = eigh_projections(matrix, rhs)
    assert projections.shape == rhs.shape
    assert torch.all(values[1:] >= values[:-1])
    torch.testing.assert_close(values, torch.linalg.eigvalsh(matrix))
    # Basis-free checks (eigenvectors are defined up to sign, and up to rotation within a repeated eigenvalue):
    # an orthonormal change of basis keeps inner products, and A acts as diag(values) on the coordinates.
    torch.testing.assert_close(projections.T @ projections, rhs.T @ rhs)
    torch.testing.assert_close(projections.T @ (values[:, None] * projections), rhs.T @ matrix @ rhs)
    if not rank_deficient:  # distinct eigenvalues: each coordinate is fixed up to its sign
        _, vectors = torch.linalg.eigh(matrix)
        torch.testing.assert_close(projections.abs(), (vectors.T @ rhs).abs())


def test_eigh_projections_of_no_columns_and_of_float32_matrices():
    x = torch.randn(30, 10, generator=torch.Generator().manual_seed(2), dtype=torch.float64)
    values, projections = eigh_projections(gram(x), torch.empty(10, 0, dtype=torch.float64))
    assert projections.shape == (10, 0)
    torch.testing.assert_close(values, torch.linalg.eigvalsh(gram(x)))
    values32, projections32 = eigh_projections(gram(x.float()), torch.ones(10, 1))
    assert values32.dtype == torch.float32
    torch.testing.assert_close(projections32.square().sum(), torch.tensor(10.0))
