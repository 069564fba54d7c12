"""The SBM itself: routed vs dense, masks, causality in time, save/reload, the flash back end."""

import pytest
import torch

from sbm.model.sbm import SBM, SBMConfig, body_matrices, load_weights, masked_bce, save_weights, update_centroids

TINY = dict(n_stimuli=3, context=6, d_model=32, n_heads=4, n_layers=2, cluster_size=8, n_centroids=16)


def inputs(B=2, T=6, N=40, K=3, seed=0):
    g = torch.Generator().manual_seed(seed)
    prob, xyz = torch.rand(B, T, N, generator=g), torch.rand(B, N, 3, generator=g) * 2 - 1
    stimulus = torch.nn.functional.one_hot(torch.randint(0, K, (B, T), generator=g), K).float()
    return prob, xyz, stimulus, torch.ones(B, N, dtype=torch.bool)


def model(**overrides) -> SBM:
    torch.manual_seed(0)
    return SBM(SBMConfig(**{**TINY, **overrides})).eval()


def test_routed_equals_dense_when_one_cluster_holds_every_neuron():
    routed, dense = model(cluster_size=40), model(spatial="dense")
    dense.load_state_dict({k: v for k, v in routed.state_dict().items() if "centroids" not in k})
    x = inputs(N=40)
    torch.testing.assert_close(routed(*x), dense(*x), atol=1e-5, rtol=1e-5)


def test_routed_differs_from_dense_when_clusters_are_small():
    routed, dense = model(cluster_size=8), model(spatial="dense")
    dense.load_state_dict({k: v for k, v in routed.state_dict().items() if "centroids" not in k})
    x = inputs(N=40)
    assert (routed(*x) - dense(*x)).abs().max() > 1e-3


# The paper's model, dense attention, and the options: tokens that embed their history, temporal
# attention first.
VARIANTS = [
    {"spatial": "routed"},
    {"spatial": "dense"},
    {"spatial": "routed", "token_history": 4},
    {"spatial": "dense", "block_order": "temporal_first", "token_history": 6},
]


@pytest.mark.parametrize("variant", VARIANTS)
def test_padding_never_changes_real_neurons_and_gets_no_gradient(variant):
    m = model(**variant)
    prob, xyz, stimulus, mask = inputs(N=40)
    mask[1, 25:] = False  # the second fish has 25 neurons, padded to 40
    out = m(prob, xyz, stimulus, mask)
    junk_prob, junk_xyz = prob.clone(), xyz.clone()
    junk_prob[1, :, 25:], junk_xyz[1, 25:] = 0.7, 5.0
    torch.testing.assert_close(m(junk_prob, junk_xyz, stimulus, mask)[1, :, :25], out[1, :, :25], atol=0, rtol=0)
    torch.testing.assert_close(m(junk_prob, junk_xyz, stimulus, mask)[0], out[0], atol=0, rtol=0)

    prob.requires_grad_(True)
    xyz.requires_grad_(True)
    masked_bce(m(prob, xyz, stimulus, mask), torch.rand(2, 6, 40), mask).backward()
    assert prob.grad[1, :, 25:].abs().max() == 0 and xyz.grad[1, 25:].abs().max() == 0
    assert prob.grad[1, :, :25].abs().max() > 0


def test_padded_neurons_do_not_count_in_the_loss():
    logits, target = torch.randn(1, 4, 10), torch.rand(1, 4, 10)
    mask = torch.tensor([[True] * 6 + [False] * 4])
    changed = target.clone()
    changed[..., 6:] = 1 - changed[..., 6:]
    assert masked_bce(logits, target, mask) == masked_bce(logits, changed, mask)
    # The same terms summed over a shorter array: equal up to the order of the float additions.
    torch.testing.assert_close(
        masked_bce(logits, target, mask), masked_bce(logits[..., :6], target[..., :6], mask[:, :6])
    )


@pytest.mark.parametrize("variant", VARIANTS)
def test_forecast_at_t_ignores_frames_and_stimuli_after_t(variant):
    m = model(**variant)
    prob, xyz, stimulus, mask = inputs()
    out = m(prob, xyz, stimulus, mask)
    for t in range(5):
        later_prob, later_stim = prob.clone(), stimulus.clone()
        later_prob[:, t + 1 :] = torch.rand_like(later_prob[:, t + 1 :])
        later_stim[:, t + 1 :] = later_stim[:, t + 1 :].flip(-1)
        changed = m(later_prob, xyz, later_stim, mask)
        torch.testing.assert_close(changed[:, : t + 1], out[:, : t + 1], atol=0, rtol=0)
        assert (changed[:, t + 1 :] - out[:, t + 1 :]).abs().max() > 0  # the test can fail


def test_neuron_order_does_not_matter():
    m = model(spatial="dense")
    prob, xyz, stimulus, mask = inputs()
    order = torch.randperm(40)
    torch.testing.assert_close(
        m(prob[..., order], xyz[:, order], stimulus, mask),
        m(prob, xyz, stimulus, mask)[..., order],
        atol=1e-5,
        rtol=1e-5,
    )


def test_saved_weights_carry_every_random_buffer(tmp_path):
    m = model()
    m.train()
    m(*inputs())  # a training step moves the centroids away from their seeded start
    update_centroids(m)
    m.eval()
    save_weights(m, tmp_path / "w.pt")
    # A model built with another seed has other rotary directions and centroids: loading must replace them.
    other = SBM(SBMConfig(**{**TINY, "seed": 1}))
    other.load_state_dict(torch.load(tmp_path / "w.pt")["model"])
    reloaded, _ = load_weights(tmp_path / "w.pt")
    x = inputs(seed=3)
    assert torch.equal(reloaded(*x), m(*x)) and torch.equal(other.eval()(*x), m(*x))
    assert {"blocks.0.spatial.rotary_directions", "blocks.0.spatial.centroids"} <= set(m.state_dict())


def test_centroids_follow_their_members_in_training_only():
    m = model()
    before = m.blocks[0].spatial.centroids.clone()
    m(*inputs())
    assert torch.equal(m.blocks[0].spatial.centroids, before)
    m.train()
    m(*inputs())
    assert torch.equal(m.blocks[0].spatial.centroids, before)  # moved only after the optimiser step
    update_centroids(m)
    after = m.blocks[0].spatial.centroids
    assert not torch.equal(after, before)
    torch.testing.assert_close(after.norm(dim=-1), torch.ones(16))
    assert torch.equal(after[5:], before[5:])  # 40 neurons / 8 = 5 clusters: the rest of the bank is untouched


def test_a_fish_smaller_than_a_cluster_gets_one_cluster_of_all_its_neurons():
    """Routed attention on a fish with fewer neurons than w is the dense computation, alone or
    padded beside a larger fish in the batch; in training it moves only the centroid it used."""
    routed, dense = model(cluster_size=32), model(spatial="dense")
    dense.load_state_dict({k: v for k, v in routed.state_dict().items() if "centroids" not in k})
    prob, xyz, stimulus, mask = inputs(N=40)
    small = (prob[1:, :, :25], xyz[1:, :25], stimulus[1:], mask[1:, :25])
    alone = routed(*small)
    torch.testing.assert_close(alone, dense(*small), atol=1e-5, rtol=1e-5)
    mask[1, 25:] = False  # the second fish: 25 neurons padded to 40, beside a fish of 40 (2 clusters)
    torch.testing.assert_close(routed(prob, xyz, stimulus, mask)[1, :, :25], alone[0], atol=1e-5, rtol=1e-5)
    m = model(cluster_size=64).train()
    before = m.blocks[0].spatial.centroids.clone()
    m(*small)
    update_centroids(m)
    moved = (m.blocks[0].spatial.centroids - before).abs().amax(dim=1) > 0
    assert moved[0] and not moved[1:].any()
    with pytest.raises(ValueError, match="raise n_centroids"):
        model(cluster_size=2, n_centroids=4)(*inputs(N=40))


def test_bad_model_settings_are_errors():
    with pytest.raises(ValueError, match="heads"):
        SBMConfig(d_model=30, n_heads=4)
    with pytest.raises(ValueError, match="block_order"):
        SBMConfig(block_order="sideways")
    with pytest.raises(ValueError, match="token_history"):
        SBMConfig(token_history=0)
    with pytest.raises(ValueError, match="aux_horizons"):
        SBMConfig(aux_horizons=(1, 4))
    with pytest.raises(ValueError, match="aux_horizons"):
        SBMConfig(aux_horizons=(4, 4))
    with pytest.raises(ValueError, match="unknown sbm.model settings"):
        SBMConfig.from_dict({"d_modle": 64})


def test_muon_takes_the_blocks_matrices_and_adamw_the_rest():
    m = model()
    muon, adamw = body_matrices(m)
    assert all(p.ndim == 2 for p in muon) and len(muon) == 2 * 6  # qkv, out (x2 attentions), gate_up, down
    assert sum(p.numel() for p in muon + adamw) == sum(p.numel() for p in m.parameters())
    torch.optim.Muon(muon)  # accepts them (2-D only)


@pytest.mark.skipif(not torch.cuda.is_available(), reason="flash-attn needs a CUDA device")
def test_flash_backend_agrees_with_sdpa():
    pytest.importorskip("flash_attn")
    sdpa, flash = model(cluster_size=16).cuda(), model(cluster_size=16, backend="flash").cuda()
    flash.load_state_dict(sdpa.state_dict())
    x = [t.cuda() for t in inputs(N=64)]
    with torch.autocast("cuda", dtype=torch.bfloat16):
        torch.testing.assert_close(flash(*x), sdpa(*x), atol=3e-2, rtol=3e-2)


def test_activation_checkpointing_gives_the_same_gradients():
    m = model()
    m.train()
    x = inputs()
    grads = []
    for checkpointing in (False, True):
        m.checkpointing = checkpointing
        m.zero_grad()
        masked_bce(m(*x), torch.rand(2, 6, 40, generator=torch.Generator().manual_seed(1)), x[3]).backward()
        grads.append([p.grad.clone() for p in m.parameters()])
    for a, b in zip(*grads):
        torch.testing.assert_close(a, b)


@pytest.mark.parametrize("spatial", ["dense", "routed"])
def test_attention_in_pieces_equals_one_call(monkeypatch, spatial):
    """CUDA's SDPA takes at most 65,535 rows per call, so the temporal attention (B * (N + 1)
    rows) and the routed clusters (B * T * k) go through in pieces; split or not, the output is
    the same."""
    import sbm.model.sbm as module

    net, x = model(spatial=spatial, cluster_size=16), inputs(N=40)
    whole = net(*x)
    monkeypatch.setattr(module, "SDPA_MAX_BATCH", 7)
    torch.testing.assert_close(net(*x), whole, rtol=0, atol=1e-6)


def test_the_model_reads_its_inputs_divided_by_prob_scale():
    scaled, plain = model(prob_scale=0.25), model(prob_scale=1.0)
    plain.load_state_dict(scaled.state_dict())
    prob, xyz, stimulus, mask = inputs()
    torch.testing.assert_close(scaled(prob, xyz, stimulus, mask), plain(prob * 4, xyz, stimulus, mask))
    assert (scaled(prob, xyz, stimulus, mask) - plain(prob, xyz, stimulus, mask)).abs().max() > 1e-3


def test_the_auxiliary_head_is_causal_and_leaves_the_forecast_as_it_is():
    m = model(aux_horizons=(3, 5))
    prob, xyz, stimulus, mask = inputs()
    logits, far = m(prob, xyz, stimulus, mask, aux=True)
    assert far.shape == (*logits.shape, 2)
    torch.testing.assert_close(logits, m(prob, xyz, stimulus, mask), atol=0, rtol=0)
    later = prob.clone()
    later[:, 3:] = torch.rand_like(later[:, 3:])
    _, changed = m(later, xyz, stimulus, mask, aux=True)
    torch.testing.assert_close(changed[:, :3], far[:, :3], atol=0, rtol=0)
    assert (changed[:, 3:] - far[:, 3:]).abs().max() > 0
    with pytest.raises(ValueError, match="no auxiliary head"):
        model()(prob, xyz, stimulus, mask, aux=True)
