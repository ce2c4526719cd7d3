select distinct
    usr.fullname
from  userroles@eol ure
join  exactonlinerest..users@eol usr
on   usr.userid = ure.userid
and  usr.division = ure.division
where ure.role = 274 /* Manage subscriptions. */
and  coalesce(ure.enddate, sysdate) >= sysdate
