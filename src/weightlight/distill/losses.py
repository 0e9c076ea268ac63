"""Distillation losses as pure tensor functions: the maths and the paper in each docstring.

Nothing here holds state or knows about models; the methods (`logit.py`, `feature.py`, ...)
capture the tensors and combine these terms with weights, so a new multi-term recipe needs no
new loss code (torchdistill's habit).
"""

from __future__ import annotations

import torch
import torch.nn.functional as F


def soft_kl(student_logits: torch.Tensor, target_probs: torch.Tensor, temperature: float):
    """Hinton's soft-target term against given target probabilities.

    L = T^2 * KL(p_t || softmax(z_s / T)), averaged over the batch, where `p_t` are the
    teacher's (or ensemble's) probabilities at temperature T. The T^2 factor keeps the
    gradient scale independent of T (Hinton, Vinyals & Dean 2015, "Distilling the Knowledge in
    a Neural Network", arXiv:1503.02531, section 2).

    Example:
        >>> s = torch.randn(4, 10); p = torch.softmax(torch.randn(4, 10) / 4, 1)
        >>> soft_kl(s, p, 4.0).shape
        torch.Size([])
    """
    log_p_s = F.log_softmax(student_logits / temperature, dim=1)
    # xlogy makes 0 * log 0 = 0, so a one-hot or very peaked target stays finite.
    kl = torch.special.xlogy(target_probs, target_probs) - target_probs * log_p_s
    return kl.sum(dim=1).mean() * temperature**2


def kd_loss(
    student_logits: torch.Tensor,
    teacher_logits: torch.Tensor,
    targets: torch.Tensor | None,
    *,
    temperature: float = 4.0,
    alpha: float = 0.7,
) -> torch.Tensor:
    """Logit (response-based) knowledge distillation, mixed with hard-label cross-entropy.

    L = alpha * T^2 * KL(softmax(z_t / T) || softmax(z_s / T)) + (1 - alpha) * CE(z_s, y)

    Hinton, Vinyals & Dean 2015, "Distilling the Knowledge in a Neural Network"
    (arXiv:1503.02531). With `targets=None` only the soft term is used (unlabelled data).

    Example:
        >>> s, t = torch.randn(8, 10), torch.randn(8, 10)
        >>> float(kd_loss(t, t, None, alpha=1.0)) < 1e-6
        True
    """
    soft = soft_kl(student_logits, F.softmax(teacher_logits / temperature, dim=1), temperature)
    if targets is None or alpha >= 1.0:
        return soft
    return alpha * soft + (1.0 - alpha) * F.cross_entropy(student_logits, targets)


def hint_loss(student_feature: torch.Tensor, teacher_feature: torch.Tensor) -> torch.Tensor:
    """FitNets hint loss: mean squared error between (adapted) student and teacher features.

    L = 1/N * || r(F_s) - F_t ||_2^2, where r is a learned regressor (a 1x1 convolution or a
    linear layer, see `feature.Adapter`) that maps the student's width onto the teacher's.
    Romero et al. 2015, "FitNets: Hints for Thin Deep Nets" (ICLR, arXiv:1412.6550), eq. 3.

    Example:
        >>> f = torch.randn(2, 8, 4, 4)
        >>> float(hint_loss(f, f))
        0.0
    """
    return F.mse_loss(student_feature, teacher_feature)


def attention_map(feature: torch.Tensor, p: float = 2.0) -> torch.Tensor:
    """Spatial attention of a feature map: Q = vec(sum_c |A_c|^p), L2-normalized per sample.

    Zagoruyko & Komodakis 2017, "Paying More Attention to Attention" (ICLR,
    arXiv:1612.03928), eq. 2 with F_sum^p. A (N, D) feature is treated as D positions.
    """
    a = feature.abs().pow(p)
    a = a.mean(dim=1) if a.dim() > 2 else a  # sum over channels (mean: same after normalizing)
    return F.normalize(a.flatten(1), dim=1)


def attention_loss(
    student_feature: torch.Tensor, teacher_feature: torch.Tensor, p: float = 2.0
) -> torch.Tensor:
    """Attention transfer: distance between normalized spatial attention maps.

    L = sum_j || Q_s^j / ||Q_s^j||_2 - Q_t^j / ||Q_t^j||_2 ||_2^2 (averaged over the batch and
    positions as in the authors' code), where Q = sum_c |A_c|^p over channels, so student and
    teacher may have different channel counts. Maps of different sizes are compared at the
    teacher's resolution (bilinear). Zagoruyko & Komodakis 2017, "Paying More Attention to
    Attention: Improving the Performance of CNNs via Attention Transfer" (arXiv:1612.03928), eq. 3;
    the paper weights this term by beta = 1000.

    Example:
        >>> f = torch.randn(2, 8, 6, 6)
        >>> float(attention_loss(f, f.repeat(1, 2, 1, 1)))
        0.0
    """
    if student_feature.dim() == 4 and student_feature.shape[-2:] != teacher_feature.shape[-2:]:
        student_feature = F.interpolate(
            student_feature, size=teacher_feature.shape[-2:], mode="bilinear", align_corners=False
        )
    q_s, q_t = attention_map(student_feature, p), attention_map(teacher_feature, p)
    return (q_s - q_t).pow(2).mean()


def _pairwise_distances(e: torch.Tensor) -> torch.Tensor:
    # Clamp before sqrt: the diagonal is 0 and sqrt'(0) is infinite.
    d = (e.unsqueeze(0) - e.unsqueeze(1)).pow(2).sum(-1).clamp_min(1e-12).sqrt()
    return d * (1 - torch.eye(len(e), device=e.device, dtype=e.dtype))


def rkd_distance_loss(student: torch.Tensor, teacher: torch.Tensor) -> torch.Tensor:
    """Relational KD, distance-wise: match normalized pairwise distances of the batch.

    L = sum_{i != j} huber( ||s_i - s_j|| / mu_s , ||t_i - t_j|| / mu_t ), where mu is the mean
    pairwise distance in the batch (so embeddings of different width and scale compare).
    Park, Kim, Lu & Cho 2019, "Relational Knowledge Distillation" (CVPR, arXiv:1904.05068),
    eq. 4-5; the paper weights this term by 25.

    Example:
        >>> e = torch.randn(6, 5)
        >>> float(rkd_distance_loss(e, 3 * e)) < 1e-6
        True
    """
    s, t = student.flatten(1), teacher.flatten(1)
    with torch.no_grad():
        d_t = _pairwise_distances(t)
        d_t = d_t / d_t[d_t > 0].mean()
    d_s = _pairwise_distances(s)
    d_s = d_s / d_s[d_s > 0].mean()
    return F.smooth_l1_loss(d_s, d_t)


def _angles(e: torch.Tensor) -> torch.Tensor:
    diff = F.normalize(e.unsqueeze(0) - e.unsqueeze(1), p=2, dim=2)  # e_i - e_j, unit length
    return torch.bmm(diff, diff.transpose(1, 2)).flatten()  # cos of angle at each anchor


def rkd_angle_loss(student: torch.Tensor, teacher: torch.Tensor) -> torch.Tensor:
    """Relational KD, angle-wise: match the angles formed by every triplet in the batch.

    L = sum_{i,j,k} huber( <e_ij, e_kj>_s , <e_ij, e_kj>_t ), with e_ij = (x_i - x_j) /
    ||x_i - x_j||. Park, Kim, Lu & Cho 2019, "Relational Knowledge Distillation" (CVPR,
    arXiv:1904.05068), eq. 6-7; the paper weights this term by 50. Memory is O(B^3): keep the
    batch moderate (B=64 is 262k entries).

    Example:
        >>> e = torch.randn(6, 5)
        >>> float(rkd_angle_loss(e, 2 * e)) < 1e-6
        True
    """
    with torch.no_grad():
        a_t = _angles(teacher.flatten(1))
    return F.smooth_l1_loss(_angles(student.flatten(1)), a_t)


def masked_hidden_loss(
    student_hidden: torch.Tensor, teacher_hidden: torch.Tensor, attention_mask: torch.Tensor
) -> torch.Tensor:
    """Hidden-state distillation over real tokens only: MSE of the (batch, tokens, hidden)
    states at the positions where `attention_mask` is 1 (padding says nothing about a text).

    L = 1/(N d) * sum_{real tokens i} || h_s,i - h_t,i ||^2 — the FitNets hint (`hint_loss`)
    applied per token, as TinyBERT does for every layer's hidden states (Jiao et al. 2020,
    "TinyBERT: Distilling BERT for Natural Language Understanding", EMNLP Findings,
    arXiv:1909.10351, eq. 8, without the projection when the widths match).

    Example:
        >>> h = torch.randn(2, 5, 8); m = torch.tensor([[1, 1, 1, 0, 0], [1, 1, 1, 1, 1]])
        >>> float(masked_hidden_loss(h, h + (1 - m).unsqueeze(-1), m))
        0.0
    """
    real = attention_mask.bool()
    return hint_loss(student_hidden[real], teacher_hidden[real])


def embedding_cosine_loss(student: torch.Tensor, teacher: torch.Tensor) -> torch.Tensor:
    """1 - cosine similarity of matching embeddings, averaged over the batch.

    The quantity a sentence encoder is judged on (retrieval ranks by cosine), so it is also
    what the student is trained to keep: L = mean_i (1 - <s_i, t_i> / (||s_i|| ||t_i||)), as in
    the embedding-level term of Sanh et al. 2019 ("DistilBERT", arXiv:1910.01108, cosine
    embedding loss).

    Example:
        >>> e = torch.randn(4, 8)
        >>> float(embedding_cosine_loss(e, 3 * e)) < 1e-6
        True
    """
    return (1 - F.cosine_similarity(student, teacher, dim=-1)).mean()


def masked_cosine_loss(
    student_hidden: torch.Tensor, teacher_hidden: torch.Tensor, attention_mask: torch.Tensor
) -> torch.Tensor:
    """1 - cosine of each real token's hidden state with the teacher's, averaged over tokens.

    L = mean_{real tokens i} (1 - <h_s,i, h_t,i> / (||h_s,i|| ||h_t,i||)): the direction-only
    counterpart of `masked_hidden_loss`, blind to the scale of the states (which grows with
    depth in pre-LN decoders), as in DistilBERT's cosine term applied per token (Sanh et al.
    2019, arXiv:1910.01108).

    Example:
        >>> h = torch.randn(2, 5, 8); m = torch.ones(2, 5)
        >>> float(masked_cosine_loss(h, 2 * h, m)) < 1e-6
        True
    """
    real = attention_mask.bool()
    return embedding_cosine_loss(student_hidden[real], teacher_hidden[real])


def token_kl_loss(
    student_logits: torch.Tensor,
    teacher_logits: torch.Tensor,
    attention_mask: torch.Tensor | None,
    temperature: float = 1.0,
) -> torch.Tensor:
    """Token-level distillation of a language model over real tokens.

    L = T^2 / N * sum_{real tokens i} KL(softmax(z_t,i / T) || softmax(z_s,i / T)) for
    (batch, tokens, vocab) logits: Hinton's soft targets at every position (word-level KD,
    Kim & Rush 2016, "Sequence-Level Knowledge Distillation", EMNLP, arXiv:1606.07947,
    eq. 4); the T^2 keeps the gradient scale independent of T. Padding is left out.

    Example:
        >>> z = torch.randn(2, 5, 11)
        >>> float(token_kl_loss(z, z, torch.ones(2, 5), 2.0)) < 1e-6
        True
    """
    if attention_mask is not None:
        real = attention_mask.bool()
        student_logits, teacher_logits = student_logits[real], teacher_logits[real]
    vocab = student_logits.shape[-1]
    s = student_logits.reshape(-1, vocab).float()
    p_t = F.softmax(teacher_logits.reshape(-1, vocab).float() / temperature, dim=-1)
    return soft_kl(s, p_t, temperature)
