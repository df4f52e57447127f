G3B=/tmp/ad/pred_g3p2/magnify.json:enl10o/x1
G2B=/tmp/ad/pred_g2p2/magnify.json:enl10o/x1
/tmp/st/arm.sh /tmp/ad/g2p2/split-group/runs/unet-fold2 /tmp/ad/ids_g2.txt g2_soft $G2B --soft
/tmp/st/arm.sh /tmp/ad/g3p2/split-group/runs/unet-fold3 /tmp/ad/ids_g3.txt g3_soft $G3B --soft
