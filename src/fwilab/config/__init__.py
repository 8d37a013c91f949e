"""The settings of every config group as frozen, typed values (the schema is the dataclass, the value is what a
component receives), and the one check per group that turns a composed ``DictConfig`` into that value.

It sits below every component that receives settings, so the allowed values (precisions, storage dtypes, data-check
policies, montage normalizations, ...) live here and the components import them. The defaults stay in the YAML
under ``conf/``; ``_target_`` groups (model, optimizer, scheduler, loss) are checked here and stay config for
``hydra.utils.instantiate``.
"""
