# The per-kind instance counts of README.md (run from the repository root; writes counts.md).
R=bench/results/grain_p_cpu_20261206; G=bench/results/grain_cpu_20261206; E=bench/results/enlarge_small_cpu_20261205/override
C=".venv/bin/python $R/counts.py"
{
  echo "# Per network on one kind (\`bash $R/counts.sh\`)"; echo
  $C brightfield-1024x1024 old=$E/fold3/magnify.json:enl10o/x1 ref=$G/g3_ref/magnify.json:enl10o/x1 \
    g05=$G/g3_grain/magnify.json:enl10o/x1 g02=$R/g3_p02/magnify.json:enl10o/x1; echo
  $C fluorescence-512x640 old=$E/fold2/magnify.json:enl10o/x1 ref=$G/g2_ref/magnify.json:enl10o/x1 \
    g05=$G/g2_grain/magnify.json:enl10o/x1 g05_seed7=$R/g2_seed7/magnify.json:enl10o/x1 g02=$R/g2_p02/magnify.json:enl10o/x1; echo
  echo "Stratified fold 1 (every kind seen):"; echo
  $C brightfield-1024x1024 gap=bench/results/gap_cpu_20261206/strat1/magnify.json:enl10o/x1 \
    ref=$G/s1_ref/magnify.json:enl10o/x1 g05=$G/s1_grain/magnify.json:enl10o/x1
} > $R/counts.md
