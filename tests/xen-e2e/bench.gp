# Chart of tests/xen-e2e/bench.sh (lib/bench-report.py runs it):
#   gnuplot -e "dat='bench-ratios.dat'; png='bench-ratios.png'; ttl='...'" bench.gp
# Top: speed of xen-pvscsi relative to the kernel's xen-scsiback and to
# QEMU's xen-block (median over reps of the ratio within each rep;
# latency jobs inverted), > 1 = xen-pvscsi faster. Bottom: dom0 CPU per
# I/O of xen-pvscsi relative to them (the same way), > 1 = xen-pvscsi
# costs more.
# SPDX-License-Identifier: GPL-2.0-or-later
set terminal pngcairo size 1000,800 noenhanced font "sans,10"
set output png
set multiplot layout 2,1 title ttl
set style data histograms
set style histogram clustered gap 1
set style fill solid 0.8 border -1
set boxwidth 0.9
set grid ytics
set yrange [0:*]
set key top center horizontal
set offsets 0, 0, graph 0.2, 0
set xtics rotate by -20
set arrow 1 from graph 0, first 1 to graph 1, first 1 nohead lw 2 dt 2 lc rgb "black"
set title "speed: xen-pvscsi / other (latency job: other / xen-pvscsi), median of per-rep ratios; > 1 = xen-pvscsi faster"
plot dat using 2:xtic(1) title "vs kernel xen-scsiback" lc rgb "#1f77b4", \
     '' using 3 title "vs QEMU xen-block" lc rgb "#ff7f0e", \
     '' using 0:2:(sprintf("%.2f", $2)) with labels offset -2.5,0.6 notitle, \
     '' using 0:3:(sprintf("%.2f", $3)) with labels offset 2.5,0.6 notitle
set title "dom0 CPU per I/O: xen-pvscsi / other, median of per-rep ratios; > 1 = xen-pvscsi costs more"
plot dat using 4:xtic(1) title "vs kernel xen-scsiback" lc rgb "#1f77b4", \
     '' using 5 title "vs QEMU xen-block" lc rgb "#ff7f0e", \
     '' using 0:4:(sprintf("%.2f", $4)) with labels offset -2.5,0.6 notitle, \
     '' using 0:5:(sprintf("%.2f", $5)) with labels offset 2.5,0.6 notitle
unset multiplot
