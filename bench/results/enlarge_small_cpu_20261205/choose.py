import json, numpy as np, pandas as pd
R='/work/main/bench/results/scale_floors_cpu_20261205/'
ta=pd.read_csv('/tmp/wte/true_areas.csv').set_index('image_id')
folds=pd.read_csv('/tmp/ug5/on/split-group/folds_group.csv').set_index('image_id')
ta=ta.join(folds)
def rows(rec): return pd.DataFrame(json.load(open(R+rec+'/magnify.json'))['rows'])
out=[]
for f,base,alt,fac in [(1,'fold1','fold1_enlarge',1.0),(2,'fold2','fold2_enlarge',1.0),(3,'fold3','fold3_enlarge',1.0),(3,'fold3','fold3_enlarge',0.5),(4,'fold4','fold4_sizerule',1.0)]:
    tr=ta[ta.fold!=f].med
    q=tr.quantile([.05,.1,.25,.5]).values
    a,b=rows(base),rows(alt)
    s=a[(a.variant=='follow')&(a.factor==fac)].set_index('image_id')[['score','scale']]
    r=b[(b.variant=='sizerule_follow')&(b.factor==fac)].set_index('image_id')[['score','scale','area']].add_suffix('_sr')
    j=s.join(r)
    if 'enlarge_follow' in set(b.variant):
        e=b[(b.variant=='enlarge_follow')&(b.factor==fac)].set_index('image_id')[['score','scale']].add_suffix('_en'); j=j.join(e)
    j=j.join(ta[['med','cluster','group']]); j['true']=j.med*fac*fac
    j['fold']=f; j['fac']=fac; j['q05'],j['q10'],j['q25'],j['q50']=q
    out.append(j)
    print(f,fac,'train q05/10/25/50',q.round(1),'heldout true med',np.median(j.true).round(1),'est med',np.nanmedian(j.area_sr).round(1))
J=pd.concat(out); J.to_csv('/tmp/wte/joined.csv')
J['g_sr']=J.score_sr-J.score
J['ratio']=J.area_sr/J.q50
for thr_name in ['q05','q10','q25']:
    for f,fac in [(1,1.),(2,1.),(3,1.),(3,.5),(4,1.)]:
        k=J[(J.fold==f)&(J.fac==fac)]
        up=(k.area_sr<k[thr_name])&(k.scale==1)&(k.scale_sr>1)
        d=np.where(up,k.score_sr,k.score)-k.score
        print(thr_name,f,fac,'n_up',up.sum(),'gain all %+.4f ± %.4f'%(d.mean(),d.std(ddof=1)/np.sqrt(len(d))))
