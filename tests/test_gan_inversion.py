"""GAN inversion (models.gan_inversion): against the closed-form answer for a linear generator,
recovery of a generated image, the prior penalty, bounded priors and bad input."""

import numpy as np
import pytest
import torch

from models.gan_inversion import best_of_samples, invert
from models.priors import PriorConfig, make_prior
from models.train import GANConfig, run_to_end


def _linear(d=3, D=6, seed=0):
    g = torch.Generator().manual_seed(seed)
    W = torch.randn(D, d, generator=g)
    b = torch.randn(D, generator=g)
    return W, b, (lambda z: z @ W.T + b)


@pytest.mark.parametrize("weight", [0.0, 0.5, 4.0])
def test_linear_generator_matches_the_closed_form(weight):
    # ||W z + b - x||^2 + weight * ||z||^2 / 2 (Gaussian prior, constant dropped) is least
    # squares with a ridge term: its minimiser solves (2 W^T W + weight I) z = 2 W^T (x - b)
    W, b, generate = _linear()
    x = torch.randn(6, generator=torch.Generator().manual_seed(1))
    A = 2 * W.T @ W + weight * torch.eye(3)
    z_star = torch.linalg.solve(A.double(), (2 * W.T @ (x - b)).double()).float()
    inv = invert(generate, make_prior("gaussian", 3), x, steps=3000, lr=0.01, restarts=2,
                 prior_weight=weight)
    assert np.allclose(inv.z, z_star.numpy(), atol=2e-3), (inv.z, z_star)
    err = float(((W @ z_star + b - x) ** 2).sum())
    assert inv.error == pytest.approx(err, rel=1e-3, abs=1e-5)
    # the recorded objective is the error minus weight * log p(z)
    assert inv.objective[-1] == pytest.approx(inv.error - weight * inv.log_prior, rel=1e-5)


@pytest.fixture(scope="module")
def small_gan():
    """A small digits GAN, trained briefly: enough for its images to depend on z."""
    config = GANConfig(dataset="digits", noise_dim=8, g_hidden=64, d_hidden=64, steps=300,
                       batch_size=64, loss="wgan-gp", g_lr=1e-3, d_lr=1e-3)
    return run_to_end(config, threads=1).model


def test_inverting_a_generated_image_recovers_it(small_gan):
    model = small_gan
    torch.manual_seed(5)
    with torch.no_grad():
        z_true = model.sample_noise(1)
        x = model.generate(z_true)[0]
        samples = model.generate(model.sample_noise(1000))
    inv = invert(model.generate, model.prior_, x, steps=300)
    _, random_best = best_of_samples(samples, x)
    assert inv.error < 0.05 * inv.start_error
    assert inv.error < 0.1 * random_best  # far closer than the best of 1,000 random samples
    assert np.abs(inv.x_hat - x.numpy()).max() < 0.1
    # the objective falls: the last value is the lowest, and it fell over the first 50 steps
    assert inv.objective[-1] <= inv.objective.min() + 1e-6
    assert inv.objective[50] < inv.objective[0]
    assert len(inv.objective) == len(inv.errors) == 301


def test_the_generator_is_left_untouched(small_gan):
    model = small_gan
    for p in model.parameters():
        p.grad = None  # left over from training
    before = {k: v.clone() for k, v in model.state_dict().items()}
    invert(model.generate, model.prior_, np.full(784, 0.5, np.float32), steps=20)
    assert all(p.grad is None for p in model.parameters())
    assert all(p.requires_grad for p in model.parameters())
    assert all(torch.equal(before[k], v) for k, v in model.state_dict().items())


def test_a_prior_penalty_keeps_z_more_probable(small_gan):
    model = small_gan
    from models import datasets
    x = datasets.load("digits").x_test[0]
    free = invert(model.generate, model.prior_, x, steps=300)
    held = invert(model.generate, model.prior_, x, steps=300, prior_weight=2.0)
    assert held.log_prior > free.log_prior
    assert held.error >= free.error - 1e-3  # the price: a (slightly) worse fit


def test_uniform_prior_keeps_z_in_its_box():
    W, b, generate = _linear(d=2, D=4)
    prior = make_prior(PriorConfig(name="uniform"), 2)
    x = generate(torch.tensor([[10.0, -10.0]]))[0]  # made by a z far outside the box
    inv = invert(generate, prior, x, steps=400, prior_weight=1.0)
    assert np.all(np.abs(inv.z) <= np.sqrt(3) + 1e-6)
    assert np.isfinite(inv.log_prior) and np.isfinite(inv.objective).all()


def test_same_seed_same_answer_and_the_global_rng_is_untouched():
    _, _, generate = _linear()
    x = torch.ones(6)
    torch.manual_seed(123)
    state = torch.get_rng_state()
    a = invert(generate, make_prior("gaussian", 3), x, steps=50, seed=3)
    assert torch.equal(torch.get_rng_state(), state)
    b = invert(generate, make_prior("gaussian", 3), x, steps=50, seed=3)
    assert np.array_equal(a.z, b.z) and np.array_equal(a.objective, b.objective)


def test_bad_input_is_explained():
    _, _, generate = _linear()
    prior = make_prior("gaussian", 3)
    with pytest.raises(ValueError, match="6"):
        invert(generate, prior, np.zeros(5))
    with pytest.raises(ValueError, match="weight"):
        invert(generate, prior, np.zeros(6), prior_weight=-1.0)
    with pytest.raises(ValueError, match="step"):
        invert(generate, prior, np.zeros(6), steps=0)


def test_best_of_samples_finds_the_nearest():
    samples = torch.tensor([[0.0, 0.0], [1.0, 1.0], [3.0, 0.0]])
    i, err = best_of_samples(samples, np.array([2.5, 0.0]))
    assert i == 2 and err == pytest.approx(0.25)
