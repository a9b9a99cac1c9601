"""The linear-algebra kernels under the metrics: each device path gives the plain product, exactly symmetric."""
import pytest
import torch

from tlcore.metrics._linalg import _block_triangle_gram, gram, symmetric_eigh


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


def test_symmetric_eigh_reconstructs_the_matrix_with_ascending_eigenvalues():
    x = torch.randn(120, 50, generator=torch.Generator().manual_seed(1), dtype=torch.float64)
    matrix = gram(x)
    values, vectors = symmetric_eigh(matrix)
    assert torch.all(values[1:] >= values[:-1])
    torch.testing.assert_close(vectors @ torch.diag(values) @ vectors.T, matrix)
    torch.testing.assert_close(values, torch.linalg.eigvalsh(matrix))
