import torch

from training.augment import epoch_data
from training.config import TrainConfig
from training.model import FactorizationMachine
from training.stream.batches import training_batches
from training.tensors import Tensors


def chunks(n_chunks: int, rows: int, slots: int = 3) -> list[Tensors]:
    """Chunks whose rows carry their global row number in every id slot and as label."""
    out = []
    for c in range(n_chunks):
        numbers = torch.arange(c * rows, (c + 1) * rows)
        out.append(Tensors(numbers.unsqueeze(1).repeat(1, slots), torch.ones(rows, slots), numbers.float()))
    return out


def test_every_row_is_trained_once_in_full_batches_but_the_last():
    batches = list(training_batches(chunks(7, 100), buffer_rows=250, batch_size=64, generator=torch.Generator()))
    sizes = [len(b) for b in batches]
    assert all(s == 64 for s in sizes[:-1]) and 0 < sizes[-1] <= 64 and sum(sizes) == 700
    seen = torch.cat([b.labels for b in batches])
    assert sorted(seen.long().tolist()) == list(range(700))
    assert not torch.equal(seen, torch.arange(700).float())  # shuffled


def test_rows_are_shuffled_within_a_buffer_only():
    batches = list(training_batches(chunks(6, 100), buffer_rows=300, batch_size=100, generator=torch.Generator()))
    first_half = torch.cat([b.labels for b in batches[:3]])
    assert first_half.max() < 300  # the first buffer held rows 0..299 only: memory is bounded by the buffer


def test_mixing_draws_partners_from_the_same_buffer():
    config = TrainConfig(augment="mixfm", mix_ratio=1.0)
    model = FactorizationMachine(700, 2)
    generator = torch.Generator().manual_seed(0)
    timings: dict[str, float] = {}

    def augment(rows: Tensors) -> Tensors:
        return epoch_data(config, rows, model, generator)

    batches = list(training_batches(chunks(4, 100), 200, 50, generator, augment, timings))
    assert sum(len(b) for b in batches) == 800  # 400 originals + 400 mixes
    assert all(b.ids.shape[1] == 6 for b in batches)  # mixed rows hold both parents' slots
    for b in batches:
        for ids, values in zip(b.ids, b.values, strict=True):
            parents = set(ids[values != 0].tolist())
            assert len({p // 200 for p in parents}) == 1  # both parents from one buffer (rows 0-199 or 200-399)
    assert timings["augment"] > 0
