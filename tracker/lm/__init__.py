"""The model boundary: the one core package that imports torch.

Loading a checkpoint (``loading``), the validation loss (``rolling``), task scoring
(``scoring``: log-likelihoods and greedy generation over typed requests), the fused output
layer (``forward``), shared-prefix packing (``prefix_tree``), batch sizes (``batching``) and
the token cache (``token_cache``). The request types and their defaults are torch-free, in
``requests``, so that tasks can build requests without loading torch.
"""
