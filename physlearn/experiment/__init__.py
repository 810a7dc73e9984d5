"""The experiment layer: training, optimizers, data sets, configs, sweeps, run directories,
figures and the command line. It sits on top of the seam and the rules and is never imported
by them."""
